"""The disk formats (``docs/snapshot-format.md``): snapshots and run directories.

:mod:`~ctdiag.collect.store.snapshot_dir` saves and loads one snapshot (through
:mod:`~ctdiag.collect.store.files`); :mod:`~ctdiag.collect.store.run_writer` writes a run
directory node by node as samples arrive, :mod:`~ctdiag.collect.store.run_reader` reads one
back (``--snapshot DIR``, ``ctdiag diff``).
"""
