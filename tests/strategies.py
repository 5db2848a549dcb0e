"""Hypothesis strategies for conntrack entries and events, plus per-format projections.

Reusable by any test: ``entries()`` draws :class:`ConntrackEntry` values that a real producer
could print (consistent family/addresses, L4 fields matching the protocol number, states only
for stateful protocols). ``project_f1``/``project_f8`` reduce an entry to what each text format
can carry, so ``parse(render(e)) == project(e)`` is the round-trip property.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from ctdiag.model.entries import (
    DCCP_STATES,
    GRE_PROTOCOL,
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    PROTOCOL_NAMES,
    SCTP_STATES,
    TCP_STATES,
    ConntrackEntry,
    ConntrackEvent,
    EventType,
    Family,
    FlowTuple,
)
from ctdiag.parse.values import normalize_address

U16 = 0xFFFF
U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF

#: (name, number) of every protocol family the parser distinguishes, plus unknown numbers.
KNOWN_PROTOCOLS = [(name, num) for num, name in sorted(PROTOCOL_NAMES.items())]
UNKNOWN_NUMBERS = st.integers(0, 255).filter(lambda n: n not in PROTOCOL_NAMES)
STATES_BY_PROTOCOL = {6: TCP_STATES, 132: SCTP_STATES, 33: DCCP_STATES}

SECCTX_SAMPLES = (
    "system_u:object_r:unlabeled_t:s0",
    "system_u:object_r:container_t:s0:c123,c456",
    "unconfined",
    "docker-default (enforce)",
    "/usr/sbin/ntpd (complain)",
)
HELPER_SAMPLES = ("ftp", "sip", "tftp", "Q.931", "h245", "RAS", "pptp", "irc")
CTIME_SAMPLES = ("Tue Mar  4 10:12:01 2025", "Sat Dec 31 23:59:59 2022", "Mon Jan 15 01:02:03 2024")
LABEL_WORDS = st.from_regex(r"[a-z][a-z0-9_-]{0,11}", fullmatch=True)
#: Unknown tokens a future kernel or library might print; none collides with a known key.
EXTRA_TOKENS = st.one_of(
    st.from_regex(r"x[a-z]{1,8}=[0-9a-z]{1,6}", fullmatch=True),
    st.from_regex(r"\[FUTURE_[A-Z]{1,6}\]", fullmatch=True),
)

families = st.sampled_from([Family.IPV4, Family.IPV6])


def addresses(family: Family) -> st.SearchStrategy[str]:
    """Addresses of one family in the normal form entries store."""
    version = 4 if family is Family.IPV4 else 6
    return st.ip_addresses(v=version).map(lambda a: normalize_address(str(a)))


@st.composite
def protocols(draw: st.DrawFn, family: Family | None = None) -> tuple[str, int]:
    """(name, number): every known protocol (ICMP matched to the family) or an unknown one."""
    choice = draw(st.sampled_from([*KNOWN_PROTOCOLS, ("unknown", -1)]))
    if choice[1] == -1:
        return "unknown", draw(UNKNOWN_NUMBERS)
    if family is not None and choice[1] in ICMP_PROTOCOLS:
        return ("icmp", 1) if family is Family.IPV4 else ("icmpv6", 58)
    return choice


@st.composite
def flow_tuples(draw: st.DrawFn, family: Family, protonum: int) -> FlowTuple:
    """One direction: addresses, the L4 part of the protocol, optional zone and counters."""
    address = addresses(family)
    l4: dict[str, int] = {}
    if protonum in PORT_PROTOCOLS:
        l4 = {"sport": draw(st.integers(0, U16)), "dport": draw(st.integers(0, U16))}
    elif protonum in ICMP_PROTOCOLS:
        l4 = {
            "type": draw(st.integers(0, 255)),
            "code": draw(st.integers(0, 255)),
            "id": draw(st.integers(0, U16)),
        }
    elif protonum == GRE_PROTOCOL:
        l4 = {"srckey": draw(st.integers(0, U16)), "dstkey": draw(st.integers(0, U16))}
    counters = draw(st.none() | st.tuples(st.integers(0, U64), st.integers(0, U64)))
    return FlowTuple(
        draw(address),
        draw(address),
        zone=draw(st.none() | st.integers(0, U16)),
        packets=counters[0] if counters else None,
        bytes=counters[1] if counters else None,
        **l4,
    )


@st.composite
def entries(draw: st.DrawFn) -> ConntrackEntry:
    """Entries with any combination of the optional fields a producer may print."""
    family = draw(families)
    proto, protonum = draw(protocols(family))
    states = STATES_BY_PROTOCOL.get(protonum)
    state = draw(st.none() | st.sampled_from(states)) if states else None
    flags: list[str] = []
    if draw(st.booleans()):
        flags.append("UNREPLIED")
    status = draw(st.sampled_from([None, "ASSURED", "OFFLOAD", "HW_OFFLOAD"]))
    if status:
        flags.append(status)
    gre = protonum == GRE_PROTOCOL and draw(st.booleans())
    return ConntrackEntry(
        family=family,
        proto=proto,
        protonum=protonum,
        orig=draw(flow_tuples(family, protonum)),
        reply=draw(flow_tuples(family, protonum)),
        timeout=draw(st.none() | st.integers(0, U32)),
        state=state,
        flags=tuple(flags),
        mark=draw(st.none() | st.integers(0, U32)),
        zone=draw(st.just(0) | st.integers(0, U16)),
        secmark=draw(st.none() | st.integers(0, U32)) if draw(st.integers(0, 9)) == 0 else None,
        secctx=draw(st.none() | st.sampled_from(SECCTX_SAMPLES)),
        use=draw(st.none() | st.integers(0, 1000)),
        id=draw(st.none() | st.integers(0, U32)),
        delta_time=draw(st.none() | st.integers(0, U32)),
        start=draw(st.none() | st.sampled_from(CTIME_SAMPLES)),
        stop=draw(st.none() | st.sampled_from(CTIME_SAMPLES)),
        helper=draw(st.none() | st.sampled_from(HELPER_SAMPLES)),
        labels=draw(st.none() | st.lists(LABEL_WORDS, max_size=4).map(tuple)),
        gre_timeout=draw(st.integers(0, U32)) if gre else None,
        gre_stream_timeout=draw(st.integers(0, U32)) if gre else None,
        extra=tuple(draw(st.lists(EXTRA_TOKENS, max_size=2))),
    )


@st.composite
def events(draw: st.DrawFn) -> ConntrackEvent:
    """Events: an entry plus optional tag, ``-o timestamp`` time, portid and progname."""
    entry = draw(entries())
    portid = draw(st.none() | st.integers(1, U32))
    progname = draw(st.none() | st.sampled_from(["conntrack", "kube-proxy", "my daemon"]))
    if portid is None:
        progname = None
    flags = tuple(f for f in entry.flags if f != "USERSPACE")
    if portid is not None:
        flags += ("USERSPACE",)
    micros = draw(st.integers(10**14, 2 * 10**15))
    return ConntrackEvent(
        entry=replace(entry, flags=flags),
        kind=draw(st.none() | st.sampled_from(list(EventType))),
        timestamp=draw(st.none() | st.just(micros / 1e6)),
        portid=portid,
        progname=progname,
    )


def _canonical_flags(flags: tuple[str, ...], *, userspace: bool = False) -> tuple[str, ...]:
    """The flags as printed: UNREPLIED, then the one status flag by priority (section 2.4)."""
    out = ["UNREPLIED"] if "UNREPLIED" in flags else []
    status = next((f for f in ("HW_OFFLOAD", "OFFLOAD", "ASSURED") if f in flags), None)
    if status:
        out.append(status)
    if userspace and "USERSPACE" in flags:
        out.append("USERSPACE")
    return tuple(out)


def project_f1(entry: ConntrackEntry, *, with_id: bool = True) -> ConntrackEntry:
    """What ``conntrack -L`` text can carry of ``entry`` (no GRE private part, id optional)."""
    return replace(
        entry,
        proto=PROTOCOL_NAMES.get(entry.protonum, "unknown"),
        flags=_canonical_flags(entry.flags),
        id=entry.id if with_id else None,
        gre_timeout=None,
        gre_stream_timeout=None,
    )


def project_event(event: ConntrackEvent, *, with_id: bool = True) -> ConntrackEvent:
    """What a ``conntrack -E`` line can carry of ``event``."""
    entry = project_f1(event.entry, with_id=with_id)
    userspace = "USERSPACE" in event.entry.flags or event.portid is not None
    flags = entry.flags + (("USERSPACE",) if userspace else ())
    timestamp = None
    if event.timestamp is not None:
        timestamp = float(f"{event.timestamp:.6f}")
    return replace(event, entry=replace(entry, flags=flags), timestamp=timestamp)


def project_f8(entry: ConntrackEntry) -> ConntrackEntry:
    """What a /proc/net/nf_conntrack line can carry of ``entry`` (section 7.3)."""
    return replace(
        entry,
        flags=_canonical_flags(entry.flags),
        secmark=entry.secmark if entry.secctx is None else None,
        id=None,
        start=None,
        stop=None,
        helper=None,
        labels=None,
        extra=(),
        gre_stream_timeout=entry.gre_stream_timeout if entry.gre_timeout is not None else None,
    )


# --- IPv6 text as producers (and odd ones) may spell it ---------------------------------

#: 128-bit values with the shapes that make canonical text hard: zero runs of every length
#: and place (ties between runs, a single zero group), mapped and IPv4-compatible addresses.
_GROUP = st.one_of(st.just(0), st.just(0), st.integers(1, 0xF), st.integers(0, U16))


@st.composite
def ipv6_values(draw: st.DrawFn) -> int:
    """An IPv6 address as an integer, biased towards zero groups and special prefixes."""
    kind = draw(st.sampled_from(["groups", "groups", "groups", "mapped", "compat", "any"]))
    if kind == "mapped":
        return 0xFFFF << 32 | draw(st.integers(0, U32))
    if kind == "compat":
        return draw(st.integers(0, U32))
    if kind == "any":
        return draw(st.integers(0, 2**128 - 1))
    value = 0
    for group in draw(st.lists(_GROUP, min_size=8, max_size=8)):
        value = value << 16 | group
    return value


@st.composite
def ipv6_spellings(draw: st.DrawFn, value: int | None = None) -> str:
    """Any text :mod:`ipaddress` reads as ``value``: exploded or not, any case, leading
    zeros, ``::`` over any run of zero groups (a single one too), an IPv4 tail."""
    if value is None:
        value = draw(ipv6_values())
    groups = [value >> (16 * (7 - k)) & 0xFFFF for k in range(8)]
    tail = None
    if draw(st.integers(0, 3)) == 0:
        tail = ".".join(str(value >> s & 0xFF) for s in (24, 16, 8, 0))
        groups = groups[:6]
    texts = []
    for g in groups:
        digits = f"{g:x}"
        digits = "0" * draw(st.integers(0, 4 - len(digits))) + digits
        texts.append("".join(c.upper() if draw(st.booleans()) else c for c in digits))
    zero_runs = [
        (i, j)
        for i in range(len(groups))
        for j in range(i + 1, len(groups) + 1)
        if all(g == 0 for g in groups[i:j])
    ]
    if zero_runs and draw(st.booleans()):
        i, j = draw(st.sampled_from(zero_runs))
        head, rest = ":".join(texts[:i]), ":".join(texts[j:])
        if tail is not None:
            rest = f"{rest}:{tail}" if rest else tail
        return f"{head}::{rest}"
    return ":".join(texts + ([tail] if tail is not None else []))


#: Bytes that break an IPv6 text in every way a hostile or damaged capture might.
_IPV6_NOISE = st.sampled_from([*":.0fF9gG%x ", "::", ":::", "00000", "1.2.3.4", "\x00", "é"])


@st.composite
def ipv6_mutants(draw: st.DrawFn) -> str:
    """A valid spelling with a few characters inserted, deleted or replaced: mostly invalid,
    sometimes still valid (another address), never with a blank inside."""
    text = draw(ipv6_spellings())
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        noise = draw(_IPV6_NOISE)
        if action == "insert":
            text = text[:k] + noise + text[k:]
        elif action == "delete":
            text = text[:k] + text[k + 1 :]
        else:
            text = text[:k] + noise + text[k + 1 :]
    return text.replace(" ", "") or "::g"
