"""Conntrack messages in kernel logs (F11): table full, rate-limit notes, INVALID packets.

The kernel logs "table full, dropping packet" only when early drop also failed, and through
a rate limiter: one line may stand for many drops. The limiter's own notes
(``net_ratelimit: N callbacks suppressed``) are therefore counted separately, as evidence
that more happened than the lines show (kernel ``nf_conntrack_core.c``); the
INVALID lines come from ``nf_conntrack_log_invalid`` (checks guide: invalid).

Lines may come from ``dmesg`` (plain or ``-T``), syslog files or ``journalctl`` in its
common output modes. Messages are searched for anywhere in the line, so an unforeseen
prefix still matches; only its timestamp is then not extracted.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ctdiag.model.entries import PROTOCOL_NUMBERS

_KMSG_LEVEL = r"(?:<\d+>)?(?:[a-z]+\s*:\s*[a-z]+\s*:\s*)?"
_SYSLOG_TAIL = r" (?P<host>\S+) kernel: (?:\[\s*\d+\.\d+\]\s?)?"
#: Timestamp prefixes, tried in order; each has a ``ts`` group, some a ``host`` group.
_PREFIXES = tuple(
    re.compile(_KMSG_LEVEL + pattern)
    for pattern in (
        # journalctl -o short-monotonic: the host part tells it apart from plain dmesg.
        r"\[\s*(?P<ts>\d+\.\d+)\]" + _SYSLOG_TAIL,
        r"\[\s*(?P<ts>\d+\.\d+)\]\s?",
        r"\[(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\]\s?",
        r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)" + _SYSLOG_TAIL,
        r"(?P<ts>[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+)" + _SYSLOG_TAIL,
        r"(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?)" + _SYSLOG_TAIL,
    )
)
_TABLE_FULL = re.compile(
    r"(?P<prefix>(?:(?:ip|nf)_conntrack: )+)table full(?: in netns (?P<netns>\d+))?,"
    r" dropping packet(?P<period>\.)?"
)
_SUPPRESSED = re.compile(
    r"(?:net_ratelimit: (?P<callbacks>\d+) callbacks suppressed"
    r"|printk: (?P<messages>\d+) messages suppressed)"
)
_INVALID = re.compile(
    r"\bnf_ct_(?P<proto>proto_\d+|tcp|udp|udplite|icmp|icmpv6|sctp|dccp|gre): (?P<message>.*)"
)
_LOG_FIELD = re.compile(r"\b(SRC|DST)=(\S+)")


class TableFullVariant(enum.Enum):
    """Wording of the "table full" line, which dates the kernel (formats doc section 11)."""

    IP_CONNTRACK = "ip_conntrack"
    """``ip_conntrack: table full, dropping packet.`` (2.6.2x and older)."""
    PRINTK = "printk"
    """``nf_conntrack: table full, dropping packet.`` (about 2.6.15 to 3.5)."""
    RATELIMITED = "ratelimited"
    """``nf_conntrack: table full, dropping packet`` (about 3.6 to early 4.x)."""
    MODULE_PREFIX = "module-prefix"
    """``nf_conntrack: nf_conntrack: table full, dropping packet`` (4.9-based and later)."""
    NETNS = "netns"
    """``... table full in netns N, dropping packet`` (proposed in 2025)."""


class SuppressionKind(enum.Enum):
    """Which rate limiter wrote the note."""

    NET_RATELIMIT = "net_ratelimit"
    PRINTK = "printk"


@dataclass(frozen=True, slots=True)
class TableFullMessage:
    """One "table full, dropping packet" line.

    Attributes:
        line_no: 1-based line in the log text.
        text: the whole line, verbatim.
        timestamp: the prefix's timestamp text (monotonic seconds or wall clock), if any.
        host: the host name of syslog/journal lines, if any.
        variant: the wording, which hints at the kernel era.
        netns: the namespace inode the newest wording names, else ``None``.
    """

    line_no: int
    text: str
    timestamp: str | None
    host: str | None
    variant: TableFullVariant
    netns: int | None = None


@dataclass(frozen=True, slots=True)
class SuppressedMessage:
    """A rate limiter's note that ``count`` messages were not printed."""

    line_no: int
    text: str
    timestamp: str | None
    host: str | None
    kind: SuppressionKind
    count: int


@dataclass(frozen=True, slots=True)
class InvalidPacketMessage:
    """A packet conntrack judged INVALID, logged because of ``nf_conntrack_log_invalid``.

    Attributes:
        protonum: IP protocol number (from ``nf_ct_proto_N`` or the older ``nf_ct_tcp``).
        reason: the kernel's explanation, before the packet dump (``IN=... OUT=...``).
        src: ``SRC=`` of the packet dump, when present.
        dst: ``DST=`` of the packet dump, when present.
    """

    line_no: int
    text: str
    timestamp: str | None
    host: str | None
    protonum: int | None
    reason: str
    src: str | None = None
    dst: str | None = None


@dataclass(frozen=True, slots=True)
class KernelLogFindings:
    """Every conntrack-related line found, by kind, in input order."""

    table_full: tuple[TableFullMessage, ...] = ()
    suppressed: tuple[SuppressedMessage, ...] = ()
    invalid: tuple[InvalidPacketMessage, ...] = ()
    lines_read: int = 0

    @property
    def table_full_count(self) -> int:
        """Number of "table full" lines (a lower bound on drop events)."""
        return len(self.table_full)

    @property
    def suppressed_total(self) -> int:
        """Messages the rate limiters swallowed; not all need be conntrack's own."""
        return sum(note.count for note in self.suppressed)

    @property
    def invalid_count(self) -> int:
        """Number of logged INVALID packets."""
        return len(self.invalid)

    @property
    def variants(self) -> frozenset[TableFullVariant]:
        """Wordings of the "table full" lines seen."""
        return frozenset(message.variant for message in self.table_full)


def parse_kernel_log(text: str) -> KernelLogFindings:
    """Find conntrack messages in ``dmesg``, syslog or ``journalctl -k`` text.

    Lines that match nothing are skipped: a kernel log is mostly about other things.
    """
    table_full: list[TableFullMessage] = []
    suppressed: list[SuppressedMessage] = []
    invalid: list[InvalidPacketMessage] = []
    lines = text.splitlines()
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        timestamp, host, message = _split_prefix(line)
        if (full := _TABLE_FULL.search(message)) is not None:
            variant = _variant(full)
            netns = int(full.group("netns")) if full.group("netns") else None
            table_full.append(TableFullMessage(line_no, raw, timestamp, host, variant, netns))
        elif (note := _SUPPRESSED.search(message)) is not None:
            callbacks = note.group("callbacks")
            kind = SuppressionKind.NET_RATELIMIT if callbacks else SuppressionKind.PRINTK
            count = int(callbacks or note.group("messages"))
            suppressed.append(SuppressedMessage(line_no, raw, timestamp, host, kind, count))
        elif (bad := _INVALID.search(message)) is not None:
            invalid.append(_invalid_message(bad, line_no, raw, timestamp, host))
    return KernelLogFindings(tuple(table_full), tuple(suppressed), tuple(invalid), len(lines))


def _split_prefix(line: str) -> tuple[str | None, str | None, str]:
    for prefix in _PREFIXES:
        match = prefix.match(line)
        if match is not None:
            host = match.groupdict().get("host")
            return match.group("ts"), host, line[match.end() :]
    return None, None, line


def _variant(match: re.Match[str]) -> TableFullVariant:
    prefix = match.group("prefix")
    if prefix.startswith("ip_conntrack"):
        return TableFullVariant.IP_CONNTRACK
    if match.group("netns"):
        return TableFullVariant.NETNS
    if prefix.count("conntrack: ") > 1:
        return TableFullVariant.MODULE_PREFIX
    return TableFullVariant.PRINTK if match.group("period") else TableFullVariant.RATELIMITED


def _invalid_message(
    match: re.Match[str], line_no: int, raw: str, timestamp: str | None, host: str | None
) -> InvalidPacketMessage:
    proto = match.group("proto")
    protonum = int(proto[6:]) if proto.startswith("proto_") else PROTOCOL_NUMBERS.get(proto)
    message = match.group("message")
    # nf_log appends the packet as "IN=... OUT=... SRC=..."; the reason is what precedes it.
    reason, _, dump = message.partition(" IN=")
    fields = dict(_LOG_FIELD.findall(dump))
    return InvalidPacketMessage(
        line_no=line_no,
        text=raw,
        timestamp=timestamp,
        host=host,
        protonum=protonum,
        reason=reason.strip(),
        src=fields.get("SRC"),
        dst=fields.get("DST"),
    )
