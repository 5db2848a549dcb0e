"""Text in, model out: every format a node prints, and the way back.

- :mod:`~ctdiag.parse.entries`: one flow or event line (the reference parser, the
  specification; its tokeniser, linear on hostile lines, is :mod:`~ctdiag.parse.tokens`);
  :mod:`~ctdiag.parse.fast` and ``_fastparse.c``: the C fast path that fills
  table columns and hands every line it does not recognise exactly to the reference parser.
- :mod:`~ctdiag.parse.listing`, :mod:`~ctdiag.parse.listing_stream`,
  :mod:`~ctdiag.parse.trailer`: whole listings (also while they stream in) and the
  conntrack-tools stderr trailer.
- :mod:`~ctdiag.parse.stats`, :mod:`~ctdiag.parse.sysctl`, :mod:`~ctdiag.parse.kernel_log`:
  counters, tunables and ``dmesg``.
- :mod:`~ctdiag.parse.services`, :mod:`~ctdiag.parse.expect_file`: Services from the API's
  JSON, from saved runs and from ``--expect FILE``.
- :mod:`~ctdiag.parse.render`, :mod:`~ctdiag.parse.entry_json`: entries back to text and JSON.

Pure functions of text and bytes; imports only :mod:`ctdiag.model` below it.
"""
