"""``python -m ctdiag`` and the ``ctdiag`` command: :mod:`~ctdiag.cli.main` dispatches to one
module per subcommand (``parse``, ``conntrack``, ``diff``, ``cleanup``, ``lab``), each with
``add_parser`` and ``run``.
"""
