"""The conntrack data model: one flow entry, its two tuples, events and malformed lines.

Pure data, no I/O. Field meanings follow what the producers print: libnetfilter_conntrack's
``src/conntrack/snprintf_default.c`` (``conntrack -L``, ``-E``) and the kernel's
``net/netfilter/nf_conntrack_standalone.c`` (``/proc/net/nf_conntrack``); absent values are
``None`` so that "not printed" never reads as zero.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Family(enum.Enum):
    """Layer-3 family, with the address-family number the kernel prints beside it."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"

    @property
    def af_number(self) -> int:
        return 2 if self is Family.IPV4 else 10


class EventType(enum.Enum):
    """The tag ``conntrack -E`` puts before an event line."""

    NEW = "NEW"
    UPDATE = "UPDATE"
    DESTROY = "DESTROY"


class Flag(enum.Enum):
    """Status flags conntrack prints in brackets. Unknown bracket words are kept as text."""

    UNREPLIED = "UNREPLIED"
    ASSURED = "ASSURED"
    OFFLOAD = "OFFLOAD"
    HW_OFFLOAD = "HW_OFFLOAD"
    USERSPACE = "USERSPACE"


#: Protocol names as the kernel and libnetfilter_conntrack print them, by IP protocol number.
PROTOCOL_NAMES: dict[int, str] = {
    1: "icmp",
    6: "tcp",
    17: "udp",
    33: "dccp",
    47: "gre",
    58: "icmpv6",
    132: "sctp",
    136: "udplite",
}
PROTOCOL_NUMBERS: dict[str, int] = {name: num for num, name in PROTOCOL_NAMES.items()}

#: Protocols whose tuples carry ``sport``/``dport``.
PORT_PROTOCOLS = frozenset({6, 17, 33, 132, 136})
#: Protocols whose tuples carry ``type``/``code``/``id``.
ICMP_PROTOCOLS = frozenset({1, 58})
GRE_PROTOCOL = 47

TCP_STATES = (
    "NONE",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSE",
    "SYN_SENT2",
    "LISTEN",
)
SCTP_STATES = (
    "NONE",
    "CLOSED",
    "COOKIE_WAIT",
    "COOKIE_ECHOED",
    "ESTABLISHED",
    "SHUTDOWN_SENT",
    "SHUTDOWN_RECD",
    "SHUTDOWN_ACK_SENT",
    "HEARTBEAT_SENT",
    "HEARTBEAT_ACKED",
)
DCCP_STATES = (
    "NONE",
    "REQUEST",
    "RESPOND",
    "PARTOPEN",
    "OPEN",
    "CLOSEREQ",
    "CLOSING",
    "TIMEWAIT",
    "IGNORE",
    "INVALID",
)
#: Every state word a known producer prints; any other upper-case word is still accepted.
KNOWN_STATES = frozenset(TCP_STATES + SCTP_STATES + DCCP_STATES)
#: TCP states of a connection not yet set up (SYN floods, blackholed backends).
HALF_OPEN_STATES = frozenset({"SYN_SENT", "SYN_RECV", "SYN_SENT2"})


@dataclass(frozen=True, slots=True)
class FlowTuple:
    """One direction of a flow: addresses, the L4 part, and that direction's extras.

    Addresses are normalised text: IPv4 dotted quad, IPv6 compressed lower case.
    """

    src: str
    dst: str
    sport: int | None = None
    dport: int | None = None
    type: int | None = None
    code: int | None = None
    id: int | None = None
    srckey: int | None = None
    dstkey: int | None = None
    packets: int | None = None
    bytes: int | None = None
    zone: int | None = None
    """Directional zone (``zone-orig=``/``zone-reply=``), ``None`` when not directional."""


@dataclass(frozen=True, slots=True)
class ConntrackEntry:
    """One conntrack flow as ``conntrack -L`` or ``/proc/net/nf_conntrack`` shows it."""

    family: Family
    proto: str
    protonum: int
    orig: FlowTuple
    reply: FlowTuple
    timeout: int | None = None
    state: str | None = None
    flags: tuple[str, ...] = ()
    """Bracketed status words without brackets, in input order (``UNREPLIED``, ``ASSURED``...)."""
    mark: int | None = None
    zone: int = 0
    secmark: int | None = None
    secctx: str | None = None
    use: int | None = None
    id: int | None = None
    delta_time: int | None = None
    start: str | None = None
    """``[start=...]`` ctime text (``-o ktimestamp``), kept verbatim: it depends on TZ."""
    stop: str | None = None
    helper: str | None = None
    labels: tuple[str, ...] | None = None
    gre_timeout: int | None = None
    """GRE private part of /proc lines: ``timeout=N,``."""
    gre_stream_timeout: int | None = None
    extra: tuple[str, ...] = ()
    """Tokens no known producer prints (future ``key=value`` or ``[FLAG]``), verbatim."""

    @property
    def unreplied(self) -> bool:
        return Flag.UNREPLIED.value in self.flags

    @property
    def assured(self) -> bool:
        return Flag.ASSURED.value in self.flags

    @property
    def dnat(self) -> bool:
        """Destination NAT, inferred from the tuples: the reply does not come from where the
        original went (address or port)."""
        return self.reply.src != self.orig.dst or _ports_differ(self.reply.sport, self.orig.dport)

    @property
    def snat(self) -> bool:
        """Source NAT: the reply goes to another address or port than the original source."""
        return self.reply.dst != self.orig.src or _ports_differ(self.reply.dport, self.orig.sport)


def _ports_differ(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a != b


@dataclass(frozen=True, slots=True)
class ConntrackEvent:
    """One ``conntrack -E`` line: the flow plus what the event machinery added."""

    entry: ConntrackEntry
    kind: EventType | None = None
    timestamp: float | None = None
    """``-o timestamp`` prefix, seconds since the epoch."""
    portid: int | None = None
    progname: str | None = None


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line that could not be read as the format of its neighbours; kept, never dropped."""

    line_no: int
    text: str
    reason: str
    truncated: bool = False
    """True for a last line cut short (no newline, or missing its reply tuple / ``use=``)."""


@dataclass(frozen=True, slots=True)
class TrailerInfo:
    """What the conntrack-tools stderr trailer said, when it was mixed into the text."""

    version: str
    count: int
    verb: str = "shown"
    """``shown`` for listings; ``deleted``, ``updated`` ... for other commands."""


@dataclass(frozen=True, slots=True)
class ParseDiagnostics:
    """Everything about an input besides its entries: bad lines, trailer, notices."""

    malformed: tuple[MalformedLine, ...] = ()
    trailer: TrailerInfo | None = None
    notices: tuple[str, ...] = field(default=())
    """``NOTICE:``/``WARNING:`` and other stderr lines found in the text, and a
    ``trailer says N flow entries, M were read`` line when :attr:`count_mismatch`."""
    lines_read: int = 0
    """Non-blank flow lines read: entries plus malformed lines."""
    trailer_count: int | None = None
    """Flows the conntrack-tools trailers say were shown (summed when captures were joined);
    ``None`` without a trailer that counts flows."""

    @property
    def truncated(self) -> bool:
        return any(m.truncated for m in self.malformed)

    @property
    def count_mismatch(self) -> bool:
        """Whether the trailer counts another number of flows than the lines read."""
        return self.trailer_count is not None and self.trailer_count != self.lines_read

    @property
    def missing(self) -> int:
        """Flows the trailer counts that were not read at all (lost lines): malformed input.

        0 when the counts agree or the trailer counts fewer (every line was read; e.g. two
        captures joined with one trailer).
        """
        if self.trailer_count is None:
            return 0
        return max(self.trailer_count - self.lines_read, 0)
