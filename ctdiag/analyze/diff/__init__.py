"""Compare two runs of the same nodes (``python -m ctdiag diff``): pure, no I/O.

:mod:`~ctdiag.analyze.diff.runs` pairs nodes and says what is worth noting;
:mod:`~ctdiag.analyze.diff.sections` compares versions, reboots, occupancy, counters,
tunables and rules; :mod:`~ctdiag.analyze.diff.table` the table's shape;
:mod:`~ctdiag.analyze.diff.rules` makes rule dumps comparable.
"""
