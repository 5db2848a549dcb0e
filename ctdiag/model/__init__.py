"""The data model: what a node printed and what ctdiag makes of it. Pure data, no I/O.

- :mod:`~ctdiag.model.entries`: one flow entry, its tuples, events and malformed lines.
- :mod:`~ctdiag.model.table`: a whole table by columns; :mod:`~ctdiag.model.table_builder`
  builds one from entries.
- :mod:`~ctdiag.model.outputs`: a node's raw command outputs at one moment (a snapshot).
- :mod:`~ctdiag.model.samples`: a node's sample (a snapshot and the counters a window later).
- :mod:`~ctdiag.model.services`: the Services a node should translate.
- :mod:`~ctdiag.model.probes`: probe packets and what the node's table showed of them.
- :mod:`~ctdiag.model.verdict`: what a check concludes.

Nothing here imports any other layer of ctdiag (``make lint`` checks it).
"""
