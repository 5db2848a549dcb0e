"""Reference parser for one conntrack flow line: F1 (``conntrack -L``), F2 (``-E``), F8 (/proc).

Reads the slots in the order the producers print them (libnetfilter_conntrack's
``snprintf_default.c``, the kernel's ``ct_seq_show``). Pure and line-at-a-time; the C fast
path (:mod:`ctdiag.parse.fast`) hands every line it declines to this module, so this one
must accept everything a known producer prints and say precisely why it rejects the rest.

Decisions beyond the spec:
    * Known status flags (``UNREPLIED ASSURED OFFLOAD HW_OFFLOAD USERSPACE``) go to
      ``entry.flags`` in input order; any other ``[WORD]`` and any unknown ``key=value`` is
      kept verbatim in ``entry.extra``. Unknown bare words are an error (no producer prints
      them outside an opaque value).
    * ``secctx=`` and ``helper=`` are opaque: following tokens without ``=`` and not bracketed
      belong to them (AppArmor-style ``profile (enforce)``), whitespace kept verbatim.
    * ``progname=`` takes the rest of the line. Outside events, ``portid=``/``progname=`` go
      to ``extra`` (the entry has no field for them).
    * The L4 part is chosen by protocol number; it may be absent only when the printed name
      is ``unknown`` (e.g. GRE without its tracker), so a cut ``tcp`` tuple is an error.
    * Blank lines (:func:`is_blank_line`: empty or only ASCII space, tab, CR, LF, VT, FF) are
      no flow lines; the listing parsers skip them. A line of other whitespace (U+00A0,
      U+2003, U+3000 ...) or invisible characters (U+FEFF, U+200B ...) is not blank: it is
      no conntrack output either, and is rejected with a reason that names its characters.
      Inside a line, any whitespace separates tokens (:mod:`ctdiag.parse.tokens`).
    * Reasons quote at most :data:`QUOTE_LIMIT` characters of a token: a hostile 1 MB token
      must not make a 1 MB error message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from typing import cast

from ctdiag.errors import ParseError
from ctdiag.model.entries import (
    KNOWN_STATES,
    PROTOCOL_NUMBERS,
    ConntrackEntry,
    ConntrackEvent,
    EventType,
    Family,
)
from ctdiag.parse.entry_fields import (
    KNOWN_FLAGS,
    TUPLE_KEYS,
    flow_tuple,
    read_counters,
    read_trailing,
    read_tuple,
)
from ctdiag.parse.tokens import split_tokens
from ctdiag.parse.values import (
    U8,
    U16,
    U64,
    BadField,
    decimal,
    quote,
)

_NAME_RE = re.compile(r"[a-z][a-z0-9_-]*")
_STATE_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_TIMESTAMP_RE = re.compile(r"\[\s*(\d+\.\d+)\s*\]")
_EVENT_TAGS = {"[NEW]": EventType.NEW, "[UPDATE]": EventType.UPDATE, "[DESTROY]": EventType.DESTROY}
_L3 = {"ipv4": (Family.IPV4, 2), "ipv6": (Family.IPV6, 10)}
#: What a blank line may hold: what the C fast path skips too (``is_blank`` in _fastparse.c).
BLANK_CHARACTERS = " \t\r\n\v\f"
#: Whitespace and the format characters (category Cf) that show as nothing: a line of only
#: these looks blank but is not.
_LOOKS_BLANK_RE = re.compile(r"[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]+")


def parse_entry_line(text: str, line_no: int = 0) -> ConntrackEntry:
    """Parse one ``conntrack -L`` (any ``-o`` except xml/save) or /proc/net/nf_conntrack line.

    Args:
        text: the line, with or without its newline.
        line_no: 1-based line number, used only in the error.

    Returns:
        The entry; IPv6 addresses compressed, ``zone`` 0 when absent.

    Raises:
        ParseError: the line is not a flow line (event lines included: use
            :func:`parse_event_line`).
    """
    try:
        entry, event = _parse(text, allow_event=False)
    except BadField as bad:
        raise ParseError(_reason(bad, text), line_no=line_no, text=text) from None
    if event is not None and (event[2] is not None or event[3] is not None):
        suffix = [f"portid={event[2]}"] if event[2] is not None else []
        suffix += [f"progname={event[3]}"] if event[3] is not None else []
        return _with_extra(entry, tuple(suffix))
    return entry


def parse_event_line(text: str, line_no: int = 0) -> ConntrackEvent:
    """Parse one ``conntrack -E`` line, with optional ``-o timestamp`` prefix and tag.

    Args:
        text: the line, with or without its newline.
        line_no: 1-based line number, used only in the error.

    Returns:
        The event; ``kind`` is None for an untagged line, ``[USERSPACE]`` stays in
        ``entry.flags`` and ``portid``/``progname`` go to the event.

    Raises:
        ParseError: the line is not a flow or event line.
    """
    try:
        entry, event = _parse(text, allow_event=True)
    except BadField as bad:
        raise ParseError(_reason(bad, text), line_no=line_no, text=text) from None
    if event is None:
        return ConntrackEvent(entry)
    return ConntrackEvent(entry, event[0], event[1], event[2], event[3])


def is_event_line(text: str) -> bool:
    """Whether a line carries an event tag or timestamp (its first non-blank is ``[``)."""
    return text.lstrip()[:1] == "["


def is_blank_line(text: str) -> bool:
    """Whether a line is blank: empty or only :data:`BLANK_CHARACTERS` (ASCII whitespace).

    Listings skip blank lines (an empty last line, CRLF endings, a pasted capture's padding).
    Other whitespace is not blank: a line of U+00A0 or U+3000 is no conntrack output, and the
    parsers count it as malformed.
    """
    return not text.strip(BLANK_CHARACTERS)


_EventParts = tuple[EventType | None, float | None, int | None, str | None]


def _reason(bad: BadField, text: str) -> str:
    """The reason for a rejected line; a line that only looks blank says so, and with what."""
    content = text.strip(BLANK_CHARACTERS)
    if not content or _LOOKS_BLANK_RE.fullmatch(content) is None:
        return str(bad)
    shown = sorted(set(content).difference(BLANK_CHARACTERS))[:5]
    names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '')}".rstrip() for c in shown)
    return f"no conntrack fields, only whitespace or invisible characters ({names})"


def _parse(text: str, *, allow_event: bool) -> tuple[ConntrackEntry, _EventParts | None]:
    tokens = split_tokens(text)
    if not tokens:
        raise BadField("empty line")
    i, n = 0, len(tokens)
    kind: EventType | None = None
    stamp: float | None = None
    if tokens[0][0] == "[":
        if not allow_event:
            raise BadField("event line (tag or timestamp); parse it as an event")
        ts = _TIMESTAMP_RE.fullmatch(tokens[0])
        if ts is not None:
            stamp, i = float(ts.group(1)), 1
        if i < n and tokens[i] in _EVENT_TAGS:
            kind, i = _EVENT_TAGS[tokens[i]], i + 1
        if i == 0:
            raise BadField(f"unknown event tag {quote(tokens[0])}")
    family: Family | None = None
    if i + 1 < n and tokens[i] in _L3:
        family, number = _L3[tokens[i]]
        if tokens[i + 1] != str(number):
            raise BadField(f"layer-3 number {quote(tokens[i + 1])} does not match {tokens[i]}")
        i += 2
    elif i + 2 < n and tokens[i] == "unknown" and _NAME_RE.fullmatch(tokens[i + 2]):
        raise BadField(f"layer-3 protocol 'unknown' {quote(tokens[i + 1])} is not IPv4 or IPv6")
    if i + 1 >= n or _NAME_RE.fullmatch(tokens[i]) is None:
        raise BadField("expected a layer-4 protocol name and number")
    proto = tokens[i]
    protonum = decimal(tokens[i + 1], "layer-4 protocol number", U8)
    if PROTOCOL_NUMBERS.get(proto, protonum) != protonum:
        raise BadField(f"protocol {proto} printed with number {protonum}")
    i += 2
    timeout = state = gre_timeout = gre_stream = None
    if i < n and (tokens[i].isdigit() or tokens[i][:1] == "-"):
        # F8 prints a signed long; old kernels (< 4.7) could show expired, negative values.
        negative = tokens[i][0] == "-"
        timeout = decimal(tokens[i][1:] if negative else tokens[i], "timeout", U64)
        timeout, i = -timeout if negative else timeout, i + 1
    if i < n and (tokens[i] in KNOWN_STATES or _STATE_RE.fullmatch(tokens[i])):
        state, i = tokens[i], i + 1
    if i < n and tokens[i].startswith("timeout="):
        gre_timeout, i = decimal(tokens[i][8:].rstrip(","), "timeout", U64), i + 1
        if i < n and tokens[i].startswith("stream_timeout="):
            gre_stream, i = decimal(tokens[i][15:], "stream_timeout", U64), i + 1
    l4_optional = proto == "unknown"
    i, orig = read_tuple(tokens, i, protonum, l4_optional)
    flags: list[str] = []
    extra: list[str] = []
    orig_zone = orig_counters = None
    while i < n and not tokens[i].startswith("src="):
        token = tokens[i]
        key, eq, value = token.partition("=")
        if key == "zone-orig" and orig_zone is None:
            orig_zone = decimal(value, key, U16)
        elif key == "packets" and orig_counters is None:
            orig_counters, i = read_counters(tokens, i), i + 1
        elif token[0] == "[" and token[-1] == "]":
            if token[1:-1] in KNOWN_FLAGS:
                flags.append(token[1:-1])
            else:
                extra.append(token)
        elif eq and key not in TUPLE_KEYS and key not in ("zone-orig", "packets", "bytes"):
            extra.append(token)
        else:
            raise BadField(f"unexpected {quote(token)} in the original direction")
        i += 1
    if i >= n:
        raise BadField("missing reply tuple (second src=)")
    i, reply = read_tuple(tokens, i, protonum, l4_optional)
    fields, event, i = read_trailing(text, tokens, i, flags, extra)
    address_family = ":" in orig[0]
    if any((":" in a) != address_family for a in (orig[1], reply[0], reply[1])):
        raise BadField("IPv4 and IPv6 addresses mixed in one flow")
    inferred = Family.IPV6 if address_family else Family.IPV4
    if family is not None and family is not inferred:
        raise BadField(f"{family.value} line with {inferred.value} addresses")
    reply_zone = cast("int | None", fields.pop("zone-reply"))
    reply_counters = cast("tuple[int, int] | None", fields.pop("packets"))
    entry = ConntrackEntry(
        family=inferred,
        proto=proto,
        protonum=protonum,
        orig=flow_tuple(protonum, orig, orig_zone, orig_counters),
        reply=flow_tuple(protonum, reply, reply_zone, reply_counters),
        timeout=timeout,
        state=state,
        flags=tuple(flags),
        extra=tuple(extra),
        gre_timeout=gre_timeout,
        gre_stream_timeout=gre_stream,
        **fields,  # type: ignore[arg-type]
    )
    if kind is None and stamp is None and event == (None, None):
        return entry, None
    return entry, (kind, stamp, event[0], event[1])


def _with_extra(entry: ConntrackEntry, more: tuple[str, ...]) -> ConntrackEntry:
    return replace(entry, extra=entry.extra + more)
