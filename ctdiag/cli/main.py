"""``python -m ctdiag`` and ``ctdiag``: the command-line entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from ctdiag import __version__
from ctdiag.cli import SUBCOMMANDS
from ctdiag.errors import CtdiagError


def chosen_subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (the top level
    has no option taking a value), when it is a known subcommand."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in SUBCOMMANDS else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: the chosen subcommand in full, the others by name and help
    only, so their modules (and what they import) are not loaded. Without ``argv``, every
    subcommand in full."""
    parser = argparse.ArgumentParser(
        prog="python -m ctdiag",
        description="Connection-tracking diagnostics for Kubernetes and OpenShift nodes.",
    )
    parser.add_argument("--version", action="version", version=f"ctdiag {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None if argv is None else chosen_subcommand(argv)
    for name, (module, help_text) in SUBCOMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(module).add_parser(commands)
        else:
            commands.add_parser(name, help=help_text)
    return parser


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(words).parse_args(words)
    # SIGTERM unwinds like Ctrl-C, so debug pods and lab namespaces are still removed.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.run(args))
    except CtdiagError as exc:
        print(f"ctdiag {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"ctdiag {args.command}: interrupted ({exc or 'Ctrl-C'})", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `ctdiag parse big | head` closes our stdout early: not an error worth a traceback.
        sys.stderr.close()
        return 0

