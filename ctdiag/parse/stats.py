"""Conntrack statistics counters: ``conntrack -S`` (F7) and ``/proc/net/stat/nf_conntrack`` (F9).

Both formats give one row of counters per CPU, but under two vocabularies: ctnetlink
attribute names (``clash_resolve``, ``error``, ``chaintoolong``) and the F9 header names
(``clashres``, ``icmp_error``, ``chainlength``), which ``conntrack -S`` also prints when it
falls back to reading F9. Everything is stored under canonical names so a snapshot taken
one way compares with one taken the other way (conntrack-tools ``src/conntrack.c``, the
kernel's ``nf_conntrack_standalone.c``).

Counters the kernel did not report are absent, not zero: ``chaintoolong`` missing means a
kernel older than 5.15 (or tools older than 1.4.7), which is a different finding from "no
chain was ever too long".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ctdiag.errors import ParseError
from ctdiag.model.entries import MalformedLine

#: F9 header names (and older F7 fallback names) mapped to their ctnetlink equivalents.
CANONICAL_NAMES: dict[str, str] = {
    "clashres": "clash_resolve",
    "chainlength": "chaintoolong",
    "icmp_error": "error",
}
#: Names only the F9 vocabulary uses; seeing one in ``conntrack -S`` output means the
#: tool fell back to reading /proc.
_PROC_ONLY_NAMES = frozenset({"entries", *CANONICAL_NAMES})
#: Kernel statistics counters are per-CPU ``unsigned int``, sent over netlink as u32 too.
COUNTER_BITS = 32

_F7_PREFIX = re.compile(r"cpu=(\d+)\s+")
_F7_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\d+)")
_HEX_VALUE = re.compile(r"[0-9a-fA-F]{1,8}")


class StatsSource(enum.Enum):
    """Which producer the text came from."""

    CONNTRACK_CLI = "conntrack -S"
    PROC_FILE = "/proc/net/stat/nf_conntrack"


class Vocabulary(enum.Enum):
    """Which set of counter names the producer used (before canonicalisation)."""

    CTNETLINK = "ctnetlink"
    PROC = "proc"


def canonical_name(name: str) -> str:
    """The canonical counter name for ``name`` in either vocabulary; unknown names unchanged."""
    return CANONICAL_NAMES.get(name, name)


@dataclass(frozen=True, slots=True)
class CpuStats:
    """One per-CPU row.

    Attributes:
        cpu: CPU id as the kernel sent it (F7 via ctnetlink), or the row index (F9 and the
            F7 /proc fallback, whose rows carry no CPU number).
        counters: ``(canonical name, value)`` pairs in input order, ``entries`` excluded.
        entries: the namespace-wide flow count printed on this row (F9 vocabulary only).
        line_no: 1-based line of the row in the input.
    """

    cpu: int
    counters: tuple[tuple[str, int], ...]
    entries: int | None = None
    line_no: int = 0

    def get(self, name: str) -> int | None:
        """Value of counter ``name`` (either vocabulary) on this CPU, ``None`` if not reported."""
        wanted = canonical_name(name)
        for key, value in self.counters:
            if key == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ConntrackStats:
    """Per-CPU counter rows plus their totals, under canonical names.

    Attributes:
        source: the producer of the text.
        vocabulary: the counter names the producer used.
        cpus: well-formed rows, in input order.
        totals: ``(canonical name, sum over cpus)`` in order of first appearance.
        entries: the flow count printed with F9-vocabulary rows (first row; not summed).
        malformed: rows that could not be read; their values are not in :attr:`totals`.
        lines_read: number of input lines seen.
    """

    source: StatsSource
    vocabulary: Vocabulary
    cpus: tuple[CpuStats, ...]
    totals: tuple[tuple[str, int], ...]
    entries: int | None = None
    malformed: tuple[MalformedLine, ...] = ()
    lines_read: int = 0

    @property
    def reported(self) -> tuple[str, ...]:
        """Canonical names of the counters the kernel (and tool) actually printed."""
        return tuple(name for name, _ in self.totals)

    @property
    def complete(self) -> bool:
        """True when every row was read, so the totals cover every CPU."""
        return not self.malformed

    def has(self, name: str) -> bool:
        """Whether counter ``name`` (either vocabulary) was reported at all."""
        return canonical_name(name) in self.reported

    def total(self, name: str) -> int | None:
        """Sum of counter ``name`` (either vocabulary) over all CPUs; ``None`` when absent.

        ``entries`` is answered too, unsummed, since it is a namespace-wide gauge.
        """
        if name == "entries":
            return self.entries
        wanted = canonical_name(name)
        for key, value in self.totals:
            if key == wanted:
                return value
        return None

    def cpu(self, cpu: int) -> CpuStats | None:
        """The row of CPU ``cpu``, or ``None``."""
        return next((row for row in self.cpus if row.cpu == cpu), None)


def counter_delta(before: int, after: int, bits: int = COUNTER_BITS) -> int:
    """Increase of a ``bits``-wide unsigned counter, assuming at most one wrap in between.

    Args:
        before: the earlier reading.
        after: the later reading.
        bits: counter width; kernel conntrack statistics are 32 bits.

    Raises:
        ValueError: a reading outside ``0 .. 2**bits - 1``.
    """
    modulus = 1 << bits
    for value in (before, after):
        if not 0 <= value < modulus:
            raise ValueError(f"counter value {value} does not fit in {bits} bits")
    return (after - before) % modulus


def parse_conntrack_stats(text: str, *, strict: bool = False) -> ConntrackStats:
    """Parse ``conntrack -S`` output (F7) in either vocabulary.

    Args:
        text: the command's stdout.
        strict: raise on the first unreadable line instead of recording it.

    Raises:
        ParseError: no non-blank line at all, or (strict) a line that is not a ``cpu=`` row.
    """
    rows: list[CpuStats] = []
    malformed: list[MalformedLine] = []
    proc_vocabulary = False
    lines = text.splitlines()
    for line_no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            row, saw_proc_names = _parse_f7_row(line, line_no, rows)
        except ParseError as exc:
            if strict:
                raise
            malformed.append(MalformedLine(line_no, raw, exc.reason))
            continue
        proc_vocabulary = proc_vocabulary or saw_proc_names
        rows.append(row)
    if not rows and not malformed:
        raise ParseError("conntrack -S output is empty")
    vocabulary = Vocabulary.PROC if proc_vocabulary else Vocabulary.CTNETLINK
    return _build(StatsSource.CONNTRACK_CLI, vocabulary, rows, malformed, len(lines))


def _parse_f7_row(line: str, line_no: int, seen: list[CpuStats]) -> tuple[CpuStats, bool]:
    prefix = _F7_PREFIX.match(line)
    if prefix is None:
        raise ParseError("not a cpu= row", line_no=line_no, text=line)
    cpu = int(prefix.group(1))
    if any(row.cpu == cpu for row in seen):
        raise ParseError(f"cpu={cpu} repeated", line_no=line_no, text=line)
    counters: list[tuple[str, int]] = []
    entries: int | None = None
    saw_proc_names = False
    for token in line[prefix.end() :].split():
        pair = _F7_PAIR.fullmatch(token)
        if pair is None:
            raise ParseError(f"bad counter {token!r}", line_no=line_no, text=line)
        name, value = pair.group(1), int(pair.group(2))
        if value >> COUNTER_BITS:
            raise ParseError(f"{name}={value} exceeds 32 bits", line_no=line_no, text=line)
        saw_proc_names = saw_proc_names or name in _PROC_ONLY_NAMES
        if name == "entries":
            entries = value
            continue
        key = canonical_name(name)
        if any(key == known for known, _ in counters):
            raise ParseError(f"counter {name!r} repeated", line_no=line_no, text=line)
        counters.append((key, value))
    return CpuStats(cpu, tuple(counters), entries, line_no), saw_proc_names


def parse_proc_stat(text: str, *, strict: bool = False) -> ConntrackStats:
    """Parse ``/proc/net/stat/nf_conntrack`` (F9), mapping columns by header name.

    Args:
        text: the file's content.
        strict: raise on the first unreadable row instead of recording it.

    Raises:
        ParseError: no header line (columns cannot be named, even leniently), or (strict) a
            row with the wrong column count or a value that is not a u32 in hex.
    """
    lines = text.splitlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise ParseError("/proc/net/stat/nf_conntrack is empty")
    names = lines[header_index].split()
    if "entries" not in names or any(_HEX_VALUE.fullmatch(name) for name in names):
        raise ParseError(
            "no header line in /proc/net/stat/nf_conntrack",
            line_no=header_index + 1,
            text=lines[header_index],
        )
    rows: list[CpuStats] = []
    malformed: list[MalformedLine] = []
    for index in range(header_index + 1, len(lines)):
        raw = lines[index]
        if not raw.strip():
            continue
        try:
            rows.append(_parse_f9_row(raw, names, index + 1, cpu=len(rows) + len(malformed)))
        except ParseError as exc:
            if strict:
                raise
            malformed.append(MalformedLine(index + 1, raw, exc.reason))
    return _build(StatsSource.PROC_FILE, Vocabulary.PROC, rows, malformed, len(lines))


def _parse_f9_row(raw: str, names: list[str], line_no: int, *, cpu: int) -> CpuStats:
    values = raw.split()
    if len(values) != len(names):
        reason = f"{len(values)} values under {len(names)} header columns"
        raise ParseError(reason, line_no=line_no, text=raw)
    bad = next((value for value in values if not _HEX_VALUE.fullmatch(value)), None)
    if bad is not None:
        raise ParseError(f"{bad!r} is not a 32-bit hex value", line_no=line_no, text=raw)
    counters: list[tuple[str, int]] = []
    entries: int | None = None
    for name, value in zip(names, values, strict=True):
        if name == "entries":
            entries = int(value, 16)
        else:
            counters.append((canonical_name(name), int(value, 16)))
    return CpuStats(cpu, tuple(counters), entries, line_no)


def _build(
    source: StatsSource,
    vocabulary: Vocabulary,
    rows: list[CpuStats],
    malformed: list[MalformedLine],
    lines_read: int,
) -> ConntrackStats:
    totals: dict[str, int] = {}
    for row in rows:
        for name, value in row.counters:
            totals[name] = totals.get(name, 0) + value
    entries = next((row.entries for row in rows if row.entries is not None), None)
    return ConntrackStats(
        source=source,
        vocabulary=vocabulary,
        cpus=tuple(rows),
        totals=tuple(totals.items()),
        entries=entries,
        malformed=tuple(malformed),
        lines_read=lines_read,
    )


def parse_stats(text: str, *, strict: bool = False) -> ConntrackStats:
    """Parse either F7 or F9, recognised by the first non-blank line.

    Useful for stored outputs whose producer is not otherwise known.
    """
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("entries"):
        return parse_proc_stat(text, strict=strict)
    return parse_conntrack_stats(text, strict=strict)
