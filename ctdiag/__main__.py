"""``python -m ctdiag``: the command-line entry point; each subcommand lives in ctdiag.commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ctdiag import __version__
from ctdiag.commands import diff as diff_command
from ctdiag.commands import parse as parse_command
from ctdiag.errors import CtdiagError
from ctdiag.lab import cli as lab_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ctdiag",
        description="Connection-tracking diagnostics for Kubernetes and OpenShift nodes.",
    )
    parser.add_argument("--version", action="version", version=f"ctdiag {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parse_command.add_parser(commands)
    diff_command.add_parser(commands)
    lab_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CtdiagError as exc:
        print(f"ctdiag {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `ctdiag parse big | head` closes our stdout early: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
