"""Single-integer outputs (F6 ``conntrack -C``, F10 sysctl files) and sysctl dumps.

A dump is either ``grep -r . /proc/sys/net/netfilter/`` (``path:value`` lines) or
``sysctl -a`` (``dotted.name = value`` lines). Both become :class:`Tunables`, keyed by the
dotted name ``sysctl`` itself uses, so either collection method feeds the same checks.
Values are kept as text: a dump holds non-integers too (``net.netfilter.nf_log.2 = NONE``,
tab-separated ranges), and only a caller asking for an integer learns it is not one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ctdiag.errors import ParseError
from ctdiag.model.entries import MalformedLine

_INTEGER = re.compile(r"[+-]?\d+")
_PROC_SYS = "/proc/sys/"
_SYSCTL_LINE = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-/]*)\s*=\s?(.*)")
#: stderr of the dumping tools, when merged into stdout: not values, but worth showing.
_NOTICE_PREFIXES = ("grep: ", "sysctl: ", "cat: ")


class Tunable(enum.StrEnum):
    """Well-known conntrack sysctls, by canonical dotted name (checks guide: tunables)."""

    COUNT = "net.netfilter.nf_conntrack_count"
    MAX = "net.netfilter.nf_conntrack_max"
    BUCKETS = "net.netfilter.nf_conntrack_buckets"
    LEGACY_MAX = "net.nf_conntrack_max"
    ACCT = "net.netfilter.nf_conntrack_acct"
    TIMESTAMP = "net.netfilter.nf_conntrack_timestamp"
    EVENTS = "net.netfilter.nf_conntrack_events"
    CHECKSUM = "net.netfilter.nf_conntrack_checksum"
    LOG_INVALID = "net.netfilter.nf_conntrack_log_invalid"
    TCP_BE_LIBERAL = "net.netfilter.nf_conntrack_tcp_be_liberal"
    TCP_LOOSE = "net.netfilter.nf_conntrack_tcp_loose"
    TCP_TIMEOUT_ESTABLISHED = "net.netfilter.nf_conntrack_tcp_timeout_established"
    TCP_TIMEOUT_CLOSE_WAIT = "net.netfilter.nf_conntrack_tcp_timeout_close_wait"
    TCP_TIMEOUT_TIME_WAIT = "net.netfilter.nf_conntrack_tcp_timeout_time_wait"
    UDP_TIMEOUT = "net.netfilter.nf_conntrack_udp_timeout"
    UDP_TIMEOUT_STREAM = "net.netfilter.nf_conntrack_udp_timeout_stream"
    BRIDGE_NF_CALL_IPTABLES = "net.bridge.bridge-nf-call-iptables"


def parse_sysctl_int(text: str, *, name: str) -> int:
    """Read a file or command output holding exactly one decimal integer.

    Args:
        text: the content, newline and surrounding blanks allowed.
        name: what was read (path, sysctl or command), for the error message.

    Raises:
        ParseError: anything but one integer.
    """
    value = text.strip()
    if not _INTEGER.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ParseError(f"{name}: expected one integer, got {shown!r}")
    return int(value)


def parse_conntrack_count(text: str) -> int:
    """Parse ``conntrack -C`` output (F6): the flow count of the current namespace."""
    return parse_sysctl_int(text, name="conntrack -C")


@dataclass(frozen=True, slots=True)
class TableLimits:
    """The three F10 files: how full the table is and how it is sized.

    Attributes:
        count: flows allocated in this namespace (may briefly read ``max + 1``).
        max: the global limit.
        buckets: the hash table size.
    """

    count: int
    max: int
    buckets: int

    @property
    def occupancy(self) -> float:
        """``count / max``; 0.0 for a zero limit rather than a division error."""
        return self.count / self.max if self.max else 0.0

    @property
    def max_per_bucket(self) -> float:
        """``max / buckets``: the chain-length pressure a full table would put on the hash."""
        return self.max / self.buckets if self.buckets else 0.0


def parse_table_limits(*, count: str, max: str, buckets: str) -> TableLimits:
    """Parse the contents of ``nf_conntrack_{count,max,buckets}`` (F10).

    Raises:
        ParseError: a file not holding one integer, named in the message.
    """
    return TableLimits(
        count=parse_sysctl_int(count, name=_PROC_SYS + "net/netfilter/nf_conntrack_count"),
        max=parse_sysctl_int(max, name=_PROC_SYS + "net/netfilter/nf_conntrack_max"),
        buckets=parse_sysctl_int(buckets, name=_PROC_SYS + "net/netfilter/nf_conntrack_buckets"),
    )


@dataclass(frozen=True, slots=True)
class SysctlValue:
    """One value of a dump, as text.

    Attributes:
        name: canonical dotted name (``net.netfilter.nf_conntrack_max``).
        value: the text after the separator, stripped.
        line_no: 1-based line in the dump.
        path: the ``/proc/sys`` path when the dump gave paths, else ``None``.
    """

    name: str
    value: str
    line_no: int
    path: str | None = None

    @property
    def origin(self) -> str:
        """Where the value came from, for messages: its path, or its name."""
        return self.path if self.path is not None else self.name


def dotted_name(path: str) -> str:
    """The ``sysctl`` name of a ``/proc/sys`` path.

    ``sysctl`` swaps the two separators: a dot inside a path component (``eth0.100``)
    becomes a slash in the dotted name, so the mapping stays reversible.
    """
    relative = path[len(_PROC_SYS) :] if path.startswith(_PROC_SYS) else path.lstrip("/")
    return ".".join(part.replace(".", "/") for part in relative.strip("/").split("/"))


@dataclass(frozen=True, slots=True)
class Tunables(Mapping[str, str]):
    """A sysctl dump as a read-only mapping of canonical dotted name to value text.

    Unknown names are kept. Use :meth:`get_int` (with a name or a :class:`Tunable`) for
    typed access.

    Attributes:
        records: every value read, in input order (the first of duplicate names only).
        malformed: lines that were neither form, or repeated a name with another value.
        notices: ``grep:``/``sysctl:`` error lines found in the text.
    """

    records: tuple[SysctlValue, ...]
    malformed: tuple[MalformedLine, ...] = ()
    notices: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> str:
        return self.entry(name).value

    def __iter__(self) -> Iterator[str]:
        return (item.name for item in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def entry(self, name: str) -> SysctlValue:
        """The full record of ``name``; raises ``KeyError`` when absent."""
        wanted = str(name)
        for item in self.records:
            if item.name == wanted:
                return item
        raise KeyError(name)

    def get_int(self, name: str) -> int | None:
        """Integer value of ``name``, ``None`` when the dump lacks it.

        Raises:
            ParseError: the value is not one integer; the message names the key or file.
        """
        if name not in self:
            return None
        item = self.entry(name)
        try:
            return parse_sysctl_int(item.value, name=item.origin)
        except ParseError as exc:
            raise ParseError(exc.reason, line_no=item.line_no) from None


def parse_sysctl_dump(text: str, *, strict: bool = False) -> Tunables:
    """Parse ``grep -r . /proc/sys/...`` or ``sysctl -a`` output (the forms may be mixed).

    Args:
        text: the dump.
        strict: raise on the first unreadable line instead of recording it.

    Raises:
        ParseError: (strict) a line in neither form, or a name repeated with another value.
    """
    values: list[SysctlValue] = []
    seen: dict[str, SysctlValue] = {}
    malformed: list[MalformedLine] = []
    notices: list[str] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_NOTICE_PREFIXES):
            notices.append(line)
            continue
        try:
            item = _parse_dump_line(line, line_no)
            earlier = seen.get(item.name)
            if earlier is not None and earlier.value != item.value:
                reason = f"{item.name} repeated with another value (first: line {earlier.line_no})"
                raise ParseError(reason, line_no=line_no, text=raw)
        except ParseError as exc:
            if strict:
                raise
            malformed.append(MalformedLine(line_no, raw, exc.reason))
            continue
        if earlier is None:
            seen[item.name] = item
            values.append(item)
    return Tunables(tuple(values), tuple(malformed), tuple(notices))


def _parse_dump_line(line: str, line_no: int) -> SysctlValue:
    if line.startswith("/"):
        path, colon, value = line.partition(":")
        if not colon or not path.startswith(_PROC_SYS):
            raise ParseError("not a /proc/sys/...:value line", line_no=line_no, text=line)
        return SysctlValue(dotted_name(path), value.strip(), line_no, path)
    match = _SYSCTL_LINE.fullmatch(line)
    if match is None:
        raise ParseError("not a name = value line", line_no=line_no, text=line)
    return SysctlValue(match.group(1), match.group(2).strip(), line_no)
