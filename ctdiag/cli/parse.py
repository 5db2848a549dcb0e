"""``ctdiag parse``: conntrack text in, JSON out (one object per entry, or a summary)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

from ctdiag.analyze.summary import DEFAULT_TOP, summarize
from ctdiag.cli import help_of
from ctdiag.errors import CtdiagError
from ctdiag.model.entries import ParseDiagnostics
from ctdiag.model.table_builder import build_table
from ctdiag.parse.entry_json import entry_to_json, event_to_json
from ctdiag.parse.listing import looks_like_events, parse_events, parse_listing

EXIT_OK = 0
EXIT_MALFORMED = 1


def add_parser(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "parse",
        help=help_of("parse"),
        description=(
            "Read `conntrack -L` (any -o extended,id,ktimestamp,labels), "
            "/proc/net/nf_conntrack or `conntrack -E` output, detect which, and print one JSON "
            "object per entry. Malformed lines go to stderr with their line numbers. "
            f"Exit status: {EXIT_OK} all lines read, {EXIT_MALFORMED} malformed input "
            "(malformed lines, or fewer flows than the conntrack trailer counts), "
            "2 unreadable input."
        ),
    )
    p.add_argument("file", nargs="?", default="-", help="input file, or - for stdin (default)")
    p.add_argument(
        "--summary",
        action="store_true",
        help="print one JSON object with the table's aggregations instead of the entries",
    )
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="length of rankings in --summary")
    p.add_argument(
        "--strict", action="store_true", help="stop at the first malformed line (exit 2)"
    )
    p.set_defaults(run=run)


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CtdiagError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _report(name: str, diagnostics: ParseDiagnostics, err: IO[str]) -> None:
    for bad in diagnostics.malformed:
        kind = "truncated" if bad.truncated else "malformed"
        err.write(f"{name}:{bad.line_no}: {kind}: {bad.reason}: {bad.text[:300]!r}\n")
    for notice in diagnostics.notices:
        err.write(f"{name}: {notice}\n")


def run(args: argparse.Namespace) -> int:
    data = _read(args.file)
    name = "<stdin>" if args.file == "-" else args.file
    out = sys.stdout
    if looks_like_events(data):
        events, diagnostics = parse_events(data, strict=args.strict)
        if args.summary:

            table = build_table([e.entry for e in events], diagnostics=diagnostics)
            json.dump(summarize(table, top=args.top).to_json(), out)
            out.write("\n")
        else:
            for event in events:
                out.write(json.dumps(event_to_json(event)) + "\n")
    else:
        table = parse_listing(data, strict=args.strict)
        diagnostics = table.diagnostics
        if args.summary:
            json.dump(summarize(table, top=args.top).to_json(), out)
            out.write("\n")
        else:
            write = out.write
            for entry in table:
                write(json.dumps(entry_to_json(entry)) + "\n")
    out.flush()
    _report(name, diagnostics, sys.stderr)
    # The trailer's count check is already on stderr (a notice); flows it counted that were
    # never read are lost input, as a malformed line is. More lines than it counts lose nothing.
    return EXIT_MALFORMED if diagnostics.malformed or diagnostics.missing else EXIT_OK
