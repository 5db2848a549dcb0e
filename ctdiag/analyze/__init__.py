"""Parsed state in, figures out: summaries, rates, Service flows, a node's views, run diffs.

- :mod:`~ctdiag.analyze.node_state`: one node's sample, parsed lazily (what checks read).
- :mod:`~ctdiag.analyze.summary`: table aggregations; :mod:`~ctdiag.analyze.rates`: counter
  rates over the sampling window; :mod:`~ctdiag.analyze.service_flows`: every entry towards
  a Service, classified once.
- :mod:`~ctdiag.analyze.diff`: two saved runs compared.

Pure; imports only :mod:`ctdiag.parse` and :mod:`ctdiag.model` below it.
"""
