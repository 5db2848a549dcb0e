"""``python -m ctdiag`` and ``ctdiag``: the command-line entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from ctdiag import __version__
from ctdiag.cli import cleanup as cleanup_command
from ctdiag.cli import conntrack as conntrack_command
from ctdiag.cli import diff as diff_command
from ctdiag.cli import lab as lab_command
from ctdiag.cli import parse as parse_command
from ctdiag.errors import CtdiagError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ctdiag",
        description="Connection-tracking diagnostics for Kubernetes and OpenShift nodes.",
    )
    parser.add_argument("--version", action="version", version=f"ctdiag {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parse_command.add_parser(commands)
    diff_command.add_parser(commands)
    conntrack_command.add_parser(commands)
    cleanup_command.add_parser(commands)
    lab_command.add_parser(commands)
    return parser


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

