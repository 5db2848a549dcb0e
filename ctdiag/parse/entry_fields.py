"""The slots of a flow line after its protocol: the two tuples, counters and what follows.

Helpers of the reference parser (:mod:`ctdiag.parse.entries`): each reads tokens from index
``i`` on and returns the index after what it took; a token that does not fit raises
:class:`~ctdiag.parse.values.BadField` with the reason.
"""

from __future__ import annotations

from ctdiag.model.entries import GRE_PROTOCOL, ICMP_PROTOCOLS, PORT_PROTOCOLS, Flag, FlowTuple
from ctdiag.parse.tokens import TokenBounds, token_bounds
from ctdiag.parse.values import U8, U16, U64, BadField, address, decimal, hex16, quote

KNOWN_FLAGS = frozenset(flag.value for flag in Flag)
TUPLE_KEYS = frozenset({"src", "dst", "sport", "dport", "type", "code", "id", "srckey", "dstkey"})
# After a tuple these keys mean a misplaced L4 field; "id" is left out because after the reply
# tuple of a port or keyless protocol it is the conntrack id of ``-o id`` (events lack use=).
_L4_KEYS = TUPLE_KEYS - {"src", "id"}

#: A tuple as read: source, destination, the L4 numbers (ports, ICMP type/code/id, GRE keys).
RawTuple = tuple[str, str, tuple[int, ...] | None]


def read_tuple(tokens: list[str], i: int, protonum: int, l4_optional: bool) -> tuple[int, RawTuple]:
    """Read ``src= dst=`` and the L4 part chosen by protocol number."""
    n = len(tokens)
    if i >= n or tokens[i][:4] != "src=":
        raise BadField(f"expected src=, got {quote(tokens[i])}" if i < n else "missing src=")
    if i + 1 >= n or tokens[i + 1][:4] != "dst=":
        raise BadField(f"expected dst= after {quote(tokens[i])}")
    src, dst = address(tokens[i][4:]), address(tokens[i + 1][4:])
    i += 2
    first = tokens[i] if i < n else ""
    l4: tuple[int, ...] | None = None
    if protonum in PORT_PROTOCOLS:
        if first[:6] == "sport=":
            dport = _value(tokens, i + 1, "dport")
            l4, i = (decimal(first[6:], "sport", U16), decimal(dport, "dport", U16)), i + 2
        elif not l4_optional:
            raise BadField(f"missing sport= after {src} {dst}")
    elif protonum in ICMP_PROTOCOLS:
        if first[:5] == "type=":
            l4 = (
                decimal(first[5:], "type", U8),
                decimal(_value(tokens, i + 1, "code"), "code", U8),
                decimal(_value(tokens, i + 2, "id"), "id", U16),
            )
            i += 3
        elif not l4_optional:
            raise BadField(f"missing type= after {src} {dst}")
    elif protonum == GRE_PROTOCOL:
        if first[:7] == "srckey=":
            dstkey = _value(tokens, i + 1, "dstkey")
            l4, i = (hex16(first[7:], "srckey"), hex16(dstkey, "dstkey")), i + 2
        elif not l4_optional:
            raise BadField(f"missing srckey= after {src} {dst}")
    if i < n and tokens[i].partition("=")[0] in _L4_KEYS:
        raise BadField(f"unexpected {quote(tokens[i])} for protocol number {protonum}")
    return i, (src, dst, l4)


def _value(tokens: list[str], i: int, key: str) -> str:
    """The value of ``tokens[i]``, which must be ``key=...``."""
    if i >= len(tokens) or not tokens[i].startswith(key + "="):
        raise BadField(f"missing {key}=")
    return tokens[i][len(key) + 1 :]


def flow_tuple(
    protonum: int, t: RawTuple, zone: int | None, counters: tuple[int, int] | None
) -> FlowTuple:
    packets, nbytes = counters if counters is not None else (None, None)
    l4 = t[2]
    if l4 is None:
        return FlowTuple(t[0], t[1], packets=packets, bytes=nbytes, zone=zone)
    if protonum in ICMP_PROTOCOLS:
        return FlowTuple(t[0], t[1], type=l4[0], code=l4[1], id=l4[2], packets=packets,
                         bytes=nbytes, zone=zone)  # fmt: skip
    if protonum == GRE_PROTOCOL:
        return FlowTuple(t[0], t[1], srckey=l4[0], dstkey=l4[1], packets=packets,
                         bytes=nbytes, zone=zone)  # fmt: skip
    return FlowTuple(t[0], t[1], sport=l4[0], dport=l4[1], packets=packets, bytes=nbytes,
                     zone=zone)  # fmt: skip


def read_counters(tokens: list[str], i: int) -> tuple[int, int]:
    packets = decimal(tokens[i][8:], "packets", U64)
    if i + 1 >= len(tokens) or not tokens[i + 1].startswith("bytes="):
        raise BadField("packets= without bytes=")
    return packets, decimal(tokens[i + 1][6:], "bytes", U64)


_NUMERIC_KEYS = {"mark": "mark", "secmark": "secmark", "zone": "zone", "use": "use",
                 "id": "id", "delta-time": "delta_time"}  # fmt: skip
_OPAQUE_KEYS = ("secctx", "helper")


def read_trailing(
    text: str, tokens: list[str], i: int, flags: list[str], extra: list[str]
) -> tuple[dict[str, object], tuple[int | None, str | None], int]:
    """Everything after the reply tuple: counters, flags, known keys, unknown tokens."""
    fields: dict[str, object] = {"zone-reply": None, "packets": None}
    portid: int | None = None
    progname: str | None = None
    bounds: TokenBounds | None = None
    n = len(tokens)
    while i < n:
        token = tokens[i]
        key, eq, value = token.partition("=")
        name = _NUMERIC_KEYS.get(key) if eq else None
        if token[0] == "[" and token[-1] == "]":
            inner = token[1:-1]
            if inner in KNOWN_FLAGS:
                flags.append(inner)
            elif inner.startswith(("start=", "stop=")):
                _set(fields, inner[: inner.index("=")], inner[inner.index("=") + 1 :])
            else:
                extra.append(token)
        elif name is not None:
            _set(fields, name, decimal(value, key, U16 if key == "zone" else U64))
        elif key in _OPAQUE_KEYS and eq:
            last = i
            while last + 1 < n and "=" not in tokens[last + 1] and tokens[last + 1][0] != "[" \
                    and tokens[last + 1] != "labels":  # fmt: skip
                last += 1
            if last > i:
                bounds = bounds or token_bounds(text)
                value = text[bounds.start(i) + len(key) + 1 : bounds.end(last)]
            _set(fields, key, value)
            i = last
        elif key == "labels":
            _set(fields, "labels", tuple(value.split(",")) if value else ())
        elif key in ("zone-reply", "packets") and eq:
            if key == "packets":
                _set(fields, "packets", read_counters(tokens, i))
                i += 1
            else:
                _set(fields, "zone-reply", decimal(value, key, U16))
        elif key == "portid" and eq and portid is None:
            portid = decimal(value, key, U64)
        elif key == "progname" and eq:
            bounds = bounds or token_bounds(text)
            progname = text[bounds.start(i) + 9 :].rstrip()  # a process name may hold spaces
            break
        elif key == "src" and eq:
            raise BadField("more than two tuples (third src=)")
        elif eq and key not in TUPLE_KEYS:
            extra.append(token)
        else:
            raise BadField(f"unexpected {quote(token)} after the reply tuple")
        i += 1
    return fields, (portid, progname), i


def _set(fields: dict[str, object], name: str, value: object) -> None:
    if fields.get(name) is not None:
        raise BadField(f"{name.replace('_', '-')} given twice")
    fields[name] = value
