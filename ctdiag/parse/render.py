"""Render entries back into the text producers print: F1/F2 (libnetfilter_conntrack) and F8.

Used by round-trip property tests and by the benchmark data generator, so the output must be
byte-for-byte what the producers write (libnetfilter_conntrack, ``ct_seq_show``): slot order,
names padded to 8 columns, no trailing space, glibc-style compressed IPv6 in F1 and fully
exploded IPv6 in F8.
"""

from __future__ import annotations

import ipaddress

from ctdiag.model.entries import (
    GRE_PROTOCOL,
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    PROTOCOL_NAMES,
    ConntrackEntry,
    ConntrackEvent,
    FlowTuple,
)

#: Only one of these is printed after the reply tuple, in this priority (section 2.4).
_STATUS_FLAGS = ("HW_OFFLOAD", "OFFLOAD", "ASSURED")


def render_conntrack_line(
    entry: ConntrackEntry, *, extended: bool = False, with_id: bool = False
) -> str:
    """One ``conntrack -L`` line (F1), without newline.

    Every slot present in the entry is printed, except ``id=`` (only with ``with_id``, like
    ``-o id``). ``[start=]``/``[stop=]`` and ``labels`` are printed when the entry has them,
    as an entry only has them when ``-o ktimestamp``/``-o labels`` was used. Unknown tokens of
    ``entry.extra`` go after ``labels``. ``secmark`` is printed in its old-kernel slot.

    Args:
        entry: the flow.
        extended: add the L3 slot (``-o extended``).
        with_id: add ``id=`` (``-o id``).
    """
    return " ".join(_f1_slots(entry, extended=extended, with_id=with_id))


def render_event_line(
    event: ConntrackEvent, *, extended: bool = False, with_id: bool = False
) -> str:
    """One ``conntrack -E`` line (F2): timestamp prefix, padded tag, F1 text, userspace suffix.

    Args:
        event: the event; ``timestamp`` renders as ``-o timestamp`` does, ``[USERSPACE]``
            is printed when the entry has that flag or the event has a ``portid``.
        extended: add the L3 slot.
        with_id: add ``id=``.
    """
    prefix = ""
    if event.timestamp is not None:
        seconds, micros = f"{event.timestamp:.6f}".split(".")
        prefix = f"[{seconds.zfill(8)}.{micros}]\t"
    if event.kind is not None:
        prefix += f"{'[' + event.kind.value + ']':>9} "
    slots = _f1_slots(event.entry, extended=extended, with_id=with_id)
    if "USERSPACE" in event.entry.flags or event.portid is not None:
        slots.append("[USERSPACE]")
        if event.portid is not None:
            slots.append(f"portid={event.portid}")
        if event.progname is not None:
            slots.append(f"progname={event.progname}")
    return prefix + " ".join(slots)


def render_proc_line(entry: ConntrackEntry) -> str:
    """One ``/proc/net/nf_conntrack`` line (F8, section 7.1), without newline.

    Always has the L3 prefix and ``zone=``; IPv6 is exploded; the GRE private part is printed
    when the entry has ``gre_timeout``. F8 cannot carry ``helper``, ``labels``, ``id``,
    ``start``/``stop`` or unknown tokens: they are left out.
    """
    e = entry
    slots = [f"{e.family.value:<8} {e.family.af_number}", f"{e.proto:<8} {e.protonum}"]
    if e.timeout is not None:
        slots.append(str(e.timeout))
    if e.state is not None:
        slots.append(e.state)
    if e.gre_timeout is not None:
        slots.append(f"timeout={e.gre_timeout},")
        if e.gre_stream_timeout is not None:
            slots.append(f"stream_timeout={e.gre_stream_timeout}")
    _flow_slots(slots, e, exploded=True)
    if e.mark is not None:
        slots.append(f"mark={e.mark}")
    if e.secctx is not None:
        slots.append(f"secctx={e.secctx}")
    elif e.secmark is not None:
        slots.append(f"secmark={e.secmark}")
    slots.append(f"zone={e.zone}")
    if e.delta_time is not None:
        slots.append(f"delta-time={e.delta_time}")
    if e.use is not None:
        slots.append(f"use={e.use}")
    return " ".join(slots)


def _f1_slots(entry: ConntrackEntry, *, extended: bool, with_id: bool) -> list[str]:
    e = entry
    slots: list[str] = []
    if extended:
        slots.append(f"{e.family.value:<8} {e.family.af_number}")
    # The library names the protocol from its number, whatever another producer called it.
    slots.append(f"{PROTOCOL_NAMES.get(e.protonum, 'unknown'):<8} {e.protonum}")
    if e.timeout is not None:
        slots.append(str(e.timeout))
    if e.state is not None:
        slots.append(e.state)
    _flow_slots(slots, e, exploded=False)
    for key, value in (("mark", e.mark), ("secmark", e.secmark), ("secctx", e.secctx)):
        if value is not None:
            slots.append(f"{key}={value}")
    if e.zone:
        slots.append(f"zone={e.zone}")
    if e.delta_time is not None:
        slots.append(f"delta-time={e.delta_time}")
    if e.start is not None:
        slots.append(f"[start={e.start}]")
    if e.stop is not None:
        slots.append(f"[stop={e.stop}]")
    if e.helper is not None:
        slots.append(f"helper={e.helper}")
    if e.use is not None:
        slots.append(f"use={e.use}")
    if with_id and e.id is not None:
        slots.append(f"id={e.id}")
    if e.labels is not None:
        # A flow whose label bits all lack names prints a bare "labels" (section 2.6).
        slots.append("labels=" + ",".join(e.labels) if e.labels else "labels")
    slots.extend(e.extra)
    return slots


def _flow_slots(slots: list[str], e: ConntrackEntry, *, exploded: bool) -> None:
    """Both tuples with ``[UNREPLIED]`` between them and the status flag after: the same slot
    order in F1 and F8 (formats doc sections 2 and 7.1)."""
    _tuple_slots(slots, e.orig, e.protonum, "zone-orig", exploded=exploded)
    if "UNREPLIED" in e.flags:
        slots.append("[UNREPLIED]")
    _tuple_slots(slots, e.reply, e.protonum, "zone-reply", exploded=exploded)
    status = next((f for f in _STATUS_FLAGS if f in e.flags), None)
    if status is not None:
        slots.append(f"[{status}]")


def _tuple_slots(
    slots: list[str], t: FlowTuple, protonum: int, zone_key: str, *, exploded: bool
) -> None:
    address = _exploded if exploded else _compressed
    slots.append(f"src={address(t.src)}")
    slots.append(f"dst={address(t.dst)}")
    if protonum in PORT_PROTOCOLS and t.sport is not None:
        slots.append(f"sport={t.sport}")
        slots.append(f"dport={t.dport}")
    elif protonum in ICMP_PROTOCOLS and t.type is not None:
        slots.append(f"type={t.type}")
        slots.append(f"code={t.code}")
        slots.append(f"id={t.id}")
    elif protonum == GRE_PROTOCOL and t.srckey is not None:
        slots.append(f"srckey={t.srckey:#x}")
        slots.append(f"dstkey={t.dstkey or 0:#x}")
    if t.zone is not None:
        slots.append(f"{zone_key}={t.zone}")
    if t.packets is not None:
        slots.append(f"packets={t.packets}")
        slots.append(f"bytes={t.bytes}")


def _exploded(address: str) -> str:
    """The kernel's ``%pI6``: eight groups of four lowercase hex digits."""
    return ipaddress.IPv6Address(address).exploded if ":" in address else address


def _compressed(address: str) -> str:
    """glibc ``inet_ntop``: longest zero run (first on ties, length >= 2) becomes ``::``;
    ``::a.b.c.d`` and ``::ffff:a.b.c.d`` keep the IPv4 part dotted."""
    if ":" not in address:
        return address
    packed = ipaddress.IPv6Address(address).packed
    words = [packed[k] << 8 | packed[k + 1] for k in range(0, 16, 2)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for k, word in enumerate(words):
        if word == 0:
            cur_base, cur_len = (k, 1) if cur_base == -1 else (cur_base, cur_len + 1)
            if cur_len > best_len:
                best_base, best_len = cur_base, cur_len
        else:
            cur_base, cur_len = -1, 0
    if best_len < 2:
        best_base = -1
    out = ""
    k = 0
    while k < 8:
        if k == best_base:
            out += "::"
            k += best_len
            continue
        if k == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out += ("" if out.endswith("::") else ":") + str(ipaddress.IPv4Address(packed[12:]))
            break
        out += ("" if k == 0 or out.endswith("::") else ":") + f"{words[k]:x}"
        k += 1
    return out
