"""What ``ctdiag conntrack NODE`` prints: matching lines, counts and statistics on stdout,
per-node notes (malformed lines, trailer mismatches, the node's stderr) on stderr."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import IO, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ctdiag.collect.query import ConntrackQuery, table_matches
from ctdiag.errors import ParseError
from ctdiag.model.entries import MalformedLine
from ctdiag.model.outputs import CommandOutput
from ctdiag.model.table import ConntrackTable
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.stats import ConntrackStats, parse_conntrack_stats, parse_proc_stat
from ctdiag.parse.trailer import strip_stderr


class NodeNotes:
    """Writes per-node notes on stderr and remembers whether the result is incomplete."""

    def __init__(self, node: str, err: IO[str]) -> None:
        self.node = node
        self.err = err
        self.incomplete = False

    def note(self, text: str, *, incomplete: bool = False) -> None:
        self.err.write(f"{self.node}: {text}\n")
        self.incomplete = self.incomplete or incomplete

    def malformed(self, bad: Sequence[MalformedLine], source: Sequence[str]) -> None:
        if bad:
            first = bad[0]
            self.note(
                f"{len(bad)} malformed line{'s' if len(bad) != 1 else ''} skipped: first at "
                f"line {first.line_no}: {first.reason}: {first.text[:200]!r} "
                f"(from {shlex.join(source)})",
                incomplete=True,
            )


def print_failure(node: str, output: CommandOutput, err: IO[str], why: str = "") -> None:
    status = f"exited {output.exit_status}" + (f", {why}" if why else "")
    err.write(f"{node}: {shlex.join(output.argv)} {status}\n")
    forward_stderr(node, output.error_text, err)


def forward_stderr(node: str, text: str, err: IO[str]) -> None:
    for line in text.splitlines():
        if line.strip():
            err.write(f"{node}: {line}\n")


class Selection(NamedTuple):
    """The rows of one listing that match the query."""

    output: CommandOutput
    table: ConntrackTable
    rows: npt.NDArray[np.intp]

    def lines(self) -> list[str]:
        """The matching lines as the node printed them, in listing order."""
        raw = self.output.text.split("\n")
        return [raw[n - 1].rstrip("\r") for n in self.table.column("line")[self.rows].tolist()]


def select_rows(
    output: CommandOutput, query: ConntrackQuery, report: NodeNotes, from_cli: bool
) -> Selection:
    table = parse_listing(output.stdout)
    rows = np.flatnonzero(table_matches(table, query))
    diagnostics = table.diagnostics
    report.malformed(diagnostics.malformed, output.argv)
    for notice in diagnostics.notices:
        report.note(notice)
    said = strip_stderr(output.stderr).flow_count
    if said is not None and said != diagnostics.lines_read:
        report.note(
            f"conntrack said {said} entries, {diagnostics.lines_read} read", incomplete=True
        )
    dropped = len(table) - len(rows)
    if dropped and from_cli:  # tools 1.4.5 ignore -f, for one
        report.note(f"{dropped} entries listed by conntrack do not match the filters: not shown")
    return Selection(output, table, rows)


def read_count(output: CommandOutput, report: NodeNotes) -> int | None:
    text = output.text.strip()
    if text.isdigit() and text.isascii():
        return int(text)
    report.note(f"{shlex.join(output.argv)} printed {text[:80]!r}, not a count", incomplete=True)
    return None


def print_count(count: int, out: IO[str], *, json_output: bool) -> None:
    out.write((json.dumps({"count": count}) if json_output else str(count)) + "\n")


def print_stats(
    output: CommandOutput, report: NodeNotes, out: IO[str], *, from_cli: bool, json_output: bool
) -> None:
    try:
        stats = (parse_conntrack_stats if from_cli else parse_proc_stat)(output.text)
    except ParseError as exc:  # empty, or no header: nothing to show
        report.note(f"{shlex.join(output.argv)}: {exc}", incomplete=True)
        return
    report.malformed(stats.malformed, output.argv)
    if json_output:
        out.write(json.dumps(stats_to_json(stats)) + "\n")
    elif from_cli:
        malformed = {bad.line_no for bad in stats.malformed}
        lines = output.text.splitlines()
        out.writelines(f"{line}\n" for n, line in enumerate(lines, 1) if n not in malformed)
    else:
        out.writelines(f"{line}\n" for line in proc_stats_lines(output.text, stats))


def proc_stats_lines(text: str, stats: ConntrackStats) -> list[str]:
    """``/proc/net/stat/nf_conntrack`` rows as ``conntrack -S`` prints them from that file.

    The shape is the CLI's (``cpu=N`` padded to 4, a TAB, ``name=value `` pairs); the names
    are the file's header names, ``entries`` included, as the CLI's /proc fallback prints them.
    """
    header = next(line for line in text.splitlines() if line.strip()).split()
    names = [name for name in header if name != "entries"]
    lines = []
    for row in stats.cpus:
        pairs = [("entries", row.entries)] if row.entries is not None else []
        pairs += zip(names, (value for _, value in row.counters), strict=True)
        lines.append(f"cpu={row.cpu:<4}\t" + "".join(f"{n}={v} " for n, v in pairs))
    return lines


def stats_to_json(stats: ConntrackStats) -> dict[str, Any]:
    """The ``-S --json`` object: per-CPU counters and totals under canonical names.

    ``{"source": "conntrack -S" | "/proc/net/stat/nf_conntrack", "vocabulary": "ctnetlink" |
    "proc", "entries": N or null, "cpus": [{"cpu": 0, "found": 0, ...}], "totals": {...}}``;
    counters the kernel did not report are absent.
    """
    return {
        "source": stats.source.value,
        "vocabulary": stats.vocabulary.value,
        "entries": stats.entries,
        "cpus": [{"cpu": row.cpu, **dict(row.counters)} for row in stats.cpus],
        "totals": dict(stats.totals),
    }
