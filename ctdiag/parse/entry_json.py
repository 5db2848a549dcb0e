"""JSON form of entries and events, with a fixed schema for reports and other tools.

Schema of :func:`entry_to_json` (always present; ``null`` when the value is absent):
``family`` (``"ipv4"``/``"ipv6"``), ``proto``, ``protonum``, ``timeout``, ``state``,
``orig``, ``reply``, ``flags`` (names without brackets), ``mark``, ``zone`` (0 when absent),
``secctx``, ``use``, ``id``, ``delta_time``, ``helper``, ``labels`` (list or null), ``dnat``,
``snat`` (booleans inferred from the tuples).

``orig``/``reply`` always have ``src`` and ``dst``; ``sport dport type code id srckey dstkey
packets bytes zone`` are integers and appear only when the line had them, so a consumer can
tell "not printed" from 0 by the key's absence.

Present only when they carry something (no producer prints them on ordinary lines, and a fixed
schema should not grow nulls for them): ``extra`` (unknown tokens, verbatim), ``secmark``,
``start``, ``stop``, ``gre_timeout``, ``gre_stream_timeout``.

:func:`event_to_json` adds ``event`` (``NEW``/``UPDATE``/``DESTROY`` or null), ``timestamp``,
``portid`` and ``progname``, always present.
"""

from __future__ import annotations

from typing import Any

from ctdiag.model.entries import ConntrackEntry, ConntrackEvent, FlowTuple

_TUPLE_OPTIONAL = (
    "sport", "dport", "type", "code", "id", "srckey", "dstkey", "packets", "bytes", "zone"
)  # fmt: skip
_ENTRY_OPTIONAL = ("secmark", "start", "stop", "gre_timeout", "gre_stream_timeout")


def tuple_to_json(t: FlowTuple) -> dict[str, Any]:
    """``src``, ``dst`` and every L4/counter/zone field the tuple has."""
    out: dict[str, Any] = {"src": t.src, "dst": t.dst}
    for key in _TUPLE_OPTIONAL:
        value = getattr(t, key)
        if value is not None:
            out[key] = value
    return out


def entry_to_json(entry: ConntrackEntry) -> dict[str, Any]:
    """The JSON object of one entry (schema in the module docstring)."""
    e = entry
    out: dict[str, Any] = {
        "family": e.family.value,
        "proto": e.proto,
        "protonum": e.protonum,
        "timeout": e.timeout,
        "state": e.state,
        "orig": tuple_to_json(e.orig),
        "reply": tuple_to_json(e.reply),
        "flags": list(e.flags),
        "mark": e.mark,
        "zone": e.zone,
        "secctx": e.secctx,
        "use": e.use,
        "id": e.id,
        "delta_time": e.delta_time,
        "helper": e.helper,
        "labels": list(e.labels) if e.labels is not None else None,
        "dnat": e.dnat,
        "snat": e.snat,
    }
    for key in _ENTRY_OPTIONAL:
        value = getattr(e, key)
        if value is not None:
            out[key] = value
    if e.extra:
        out["extra"] = list(e.extra)
    return out


def event_to_json(event: ConntrackEvent) -> dict[str, Any]:
    """The entry's JSON object plus ``event``, ``timestamp``, ``portid`` and ``progname``."""
    out = entry_to_json(event.entry)
    out["event"] = event.kind.value if event.kind is not None else None
    out["timestamp"] = event.timestamp
    out["portid"] = event.portid
    out["progname"] = event.progname
    return out
