"""Subcommands of ``python -m ctdiag``: each module has ``add_parser`` and a ``run`` function."""
