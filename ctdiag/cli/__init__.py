"""``python -m ctdiag`` and the ``ctdiag`` command: :mod:`~ctdiag.cli.main` dispatches to one
module per subcommand, each with ``add_parser`` and ``run``.

Only the chosen subcommand's module is imported (``ctdiag --help`` imports none), so a
``ctdiag parse`` never pays for the Kubernetes client, scapy or aiohttp. This table is the
one place that names them and their one-line help.
"""

from __future__ import annotations

#: Subcommand -> (its module, its one-line help), in the order ``--help`` lists them.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "parse": ("ctdiag.cli.parse", "parse conntrack output into JSON lines"),
    "diff": ("ctdiag.cli.diff", "compare two runs saved with pytest --save-snapshot"),
    "conntrack": ("ctdiag.cli.conntrack",
                  "list, count or show statistics of a node's conntrack table"),
    "cleanup": ("ctdiag.cli.cleanup", "delete debug pods and namespaces left by killed runs"),
    "lab": ("ctdiag.cli.lab", "real-kernel lab: a Kubernetes-like node made of network namespaces"),
}  # fmt: skip


def help_of(name: str) -> str:
    """The one-line help of subcommand ``name``."""
    return SUBCOMMANDS[name][1]
