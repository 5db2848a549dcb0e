"""Builds a :class:`~ctdiag.model.table.ConntrackTable` from entry objects (the reference path).

The C fast path fills columns directly; this builder is what every other source goes through
(lines the fast path declines, events, tests), and the definition of what the columns mean:
a row whose entry the columns cannot rebuild exactly is also kept whole in ``overflow``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ctdiag.model.entries import (
    GRE_PROTOCOL,
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    PROTOCOL_NAMES,
    ConntrackEntry,
    Family,
    FlowTuple,
    ParseDiagnostics,
)
from ctdiag.model.table import (
    COLUMN_DTYPES,
    COUNTER_COLUMN,
    DICTIONARIES,
    FLAG_ORDER,
    L4_COLUMNS,
    ConntrackTable,
    Present,
)

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF


class TableBuilder:
    """Appends entries into growing Python lists, then freezes them into numpy columns."""

    def __init__(self) -> None:
        self._rows: dict[str, list[int]] = {name: [] for name in COLUMN_DTYPES}
        self._l4: dict[str, list[tuple[int, int, int]]] = {n: [] for n in L4_COLUMNS}
        self._counters: list[tuple[int, int, int, int]] = []
        self._has_counters = False
        self._dicts: dict[str, dict[str, int]] = {name: {} for name in DICTIONARIES}
        self._overflow: dict[int, ConntrackEntry] = {}

    def _code(self, dictionary: str, value: str) -> int:
        d = self._dicts[dictionary]
        return d.setdefault(value, len(d))

    def append(self, entry: ConntrackEntry, line: int) -> None:
        row = len(self._rows["line"])
        if not _fits_columns(entry):
            self._overflow[row] = entry
        r = self._rows
        present = Present(0)
        r["line"].append(line)
        r["family"].append(6 if entry.family is Family.IPV6 else 4)
        r["protonum"].append(entry.protonum & 0xFF)
        flags = 0
        for flag_name, flag_bit in FLAG_ORDER:
            if flag_name in entry.flags:
                flags |= flag_bit
        r["flags"].append(flags)
        for direction, t, l4col in (
            ("orig", entry.orig, "orig_l4"),
            ("reply", entry.reply, "reply_l4"),
        ):
            r[f"{direction}_src"].append(self._code("addresses", t.src))
            r[f"{direction}_dst"].append(self._code("addresses", t.dst))
            l4 = _l4_triple(entry.protonum, t)
            self._l4[l4col].append(l4 or (0, 0, 0))
            if l4 is not None:
                present |= Present.L4_ORIG if direction == "orig" else Present.L4_REPLY
            if t.zone is not None:
                present |= Present.ZONE_ORIG if direction == "orig" else Present.ZONE_REPLY
            r[f"zone_{direction}"].append(_clip(t.zone, _U16_MAX))
        r["zone"].append(_clip(entry.zone, _U16_MAX))
        for name, value, bit, limit in (
            ("timeout", entry.timeout, Present.TIMEOUT, _U32_MAX),
            ("mark", entry.mark, Present.MARK, _U32_MAX),
            ("use", entry.use, Present.USE, _U32_MAX),
            ("id", entry.id, Present.ID, _U32_MAX),
            ("delta_time", entry.delta_time, Present.DELTA_TIME, _U32_MAX),
        ):
            r[name].append(_clip(value, limit))
            if value is not None:
                present |= bit
        for code_column, dictionary, text, text_bit in (
            ("state", "states", entry.state, Present.STATE),
            ("secctx", "secctxs", entry.secctx, Present.SECCTX),
            ("helper", "helpers", entry.helper, Present.HELPER),
        ):
            r[code_column].append(self._code(dictionary, text) if text is not None else 0)
            if text is not None:
                present |= text_bit
        o, p = entry.orig, entry.reply
        counters = (o.packets, o.bytes, p.packets, p.bytes)
        if o.packets is not None:
            present |= Present.COUNTERS_ORIG
        if p.packets is not None:
            present |= Present.COUNTERS_REPLY
        self._has_counters = self._has_counters or o.packets is not None or p.packets is not None
        self._counters.append(tuple(_clip(v, _U64_MAX) for v in counters))  # type: ignore[arg-type]
        r["present"].append(int(present))

    def build(self, diagnostics: ParseDiagnostics) -> ConntrackTable:
        columns: dict[str, np.ndarray] = {
            name: np.array(values, dtype=COLUMN_DTYPES[name]) for name, values in self._rows.items()
        }
        for name, triples in self._l4.items():
            columns[name] = np.array(triples, dtype=np.uint16).reshape(-1, 3)
        if self._has_counters:
            columns[COUNTER_COLUMN] = np.array(self._counters, dtype=np.uint64).reshape(-1, 4)
        dictionaries = {name: list(d) for name, d in self._dicts.items()}
        return ConntrackTable(columns, dictionaries, dict(self._overflow), diagnostics)


def _clip(value: int | None, limit: int) -> int:
    if value is None:
        return 0
    return value if 0 <= value <= limit else 0


def _l4_triple(protonum: int, t: FlowTuple) -> tuple[int, int, int] | None:
    if protonum in PORT_PROTOCOLS and t.sport is not None and t.dport is not None:
        return (t.sport, t.dport, 0)
    if (
        protonum in ICMP_PROTOCOLS
        and t.type is not None
        and t.code is not None
        and t.id is not None
    ):
        return (t.type, t.code, t.id)
    if protonum == GRE_PROTOCOL and t.srckey is not None and t.dstkey is not None:
        return (t.srckey, t.dstkey, 0)
    return None


def _fits_columns(entry: ConntrackEntry) -> bool:
    """Whether :meth:`ConntrackTable.entry` would rebuild ``entry`` exactly from columns."""
    simple_flags = all(f in {"UNREPLIED", "ASSURED", "OFFLOAD", "HW_OFFLOAD"} for f in entry.flags)
    canonical_flags = entry.flags == tuple(n for n, _ in FLAG_ORDER if n in entry.flags)
    if not (simple_flags and canonical_flags):
        return False
    if entry.extra or entry.labels is not None or entry.start or entry.stop:
        return False
    if (
        entry.secmark is not None
        or entry.gre_timeout is not None
        or entry.gre_stream_timeout is not None
    ):
        return False
    if PROTOCOL_NAMES.get(entry.protonum, "unknown") != entry.proto or entry.protonum > 255:
        return False
    if (entry.family is Family.IPV6) != (":" in entry.orig.src):
        return False
    for t in (entry.orig, entry.reply):
        l4 = _l4_triple(entry.protonum, t)
        others = (t.sport, t.dport, t.type, t.code, t.id, t.srckey, t.dstkey)
        if l4 is None and any(v is not None for v in others):
            return False
        if l4 is not None and (
            sum(v is not None for v in others) != (3 if entry.protonum in ICMP_PROTOCOLS else 2)
            or any(not 0 <= v <= _U16_MAX for v in l4)
        ):
            return False
        if (t.packets is None) != (t.bytes is None):
            return False
        for v, limit in ((t.packets, _U64_MAX), (t.bytes, _U64_MAX), (t.zone, _U16_MAX)):
            if v is not None and not 0 <= v <= limit:
                return False
    for v, limit in (
        (entry.timeout, _U32_MAX),
        (entry.mark, _U32_MAX),
        (entry.use, _U32_MAX),
        (entry.id, _U32_MAX),
        (entry.delta_time, _U32_MAX),
        (entry.zone, _U16_MAX),
    ):
        if v is not None and not 0 <= v <= limit:
            return False
    return True


def build_table(
    entries: Iterable[ConntrackEntry],
    *,
    lines: Sequence[int] | None = None,
    diagnostics: ParseDiagnostics | None = None,
) -> ConntrackTable:
    """Build a table from entries (the reference path; the fast path fills columns itself).

    Args:
        entries: the entries, in order.
        lines: 1-based source line of each entry; 1..n when omitted.
        diagnostics: what the parse noticed, carried along.
    """
    builder = TableBuilder()
    for k, entry in enumerate(entries):
        builder.append(entry, lines[k] if lines is not None else k + 1)
    return builder.build(diagnostics or ParseDiagnostics())
