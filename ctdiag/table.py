"""A conntrack table stored by columns, so that a million entries fit in a few dozen MB.

A dataclass per entry costs ~370 bytes and 9 s for 1M entries; here each entry costs a
few integers in numpy arrays, and strings (addresses, states, secctx, helper) are
dictionary-encoded: an array of codes plus the list of distinct values. All four address
columns share one dictionary, so "reply source differs from original destination" is an
integer comparison.

Rows that carry anything the columns do not hold (unknown tokens, labels, timestamps, GRE
private part, secmark, a numeric value too wide for its column) keep their full
:class:`~ctdiag.model.ConntrackEntry` in :attr:`ConntrackTable.overflow`, so nothing is lost
and :meth:`ConntrackTable.entry` always gives back exactly what was parsed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ctdiag.model import (
    GRE_PROTOCOL,
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    PROTOCOL_NAMES,
    ConntrackEntry,
    Family,
    FlowTuple,
    ParseDiagnostics,
)

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]


class Present(enum.IntFlag):
    """Bits of the ``present`` column: which optional fields a row has."""

    TIMEOUT = 1 << 0
    STATE = 1 << 1
    MARK = 1 << 2
    USE = 1 << 3
    ID = 1 << 4
    DELTA_TIME = 1 << 5
    SECCTX = 1 << 6
    HELPER = 1 << 7
    ZONE_ORIG = 1 << 8
    ZONE_REPLY = 1 << 9
    COUNTERS_ORIG = 1 << 10
    COUNTERS_REPLY = 1 << 11
    L4_ORIG = 1 << 12
    L4_REPLY = 1 << 13


class FlagBit(enum.IntFlag):
    """Bits of the ``flags`` column."""

    UNREPLIED = 1 << 0
    ASSURED = 1 << 1
    OFFLOAD = 1 << 2
    HW_OFFLOAD = 1 << 3


FLAG_ORDER: tuple[tuple[str, FlagBit], ...] = (
    ("UNREPLIED", FlagBit.UNREPLIED),
    ("HW_OFFLOAD", FlagBit.HW_OFFLOAD),
    ("OFFLOAD", FlagBit.OFFLOAD),
    ("ASSURED", FlagBit.ASSURED),
)

#: Column name -> numpy dtype, for every per-row column. ``orig_l4``/``reply_l4`` are (n, 3):
#: (sport, dport, 0) for port protocols, (type, code, id) for ICMP, (srckey, dstkey, 0) for GRE.
COLUMN_DTYPES: dict[str, type[np.generic]] = {
    "line": np.uint32,
    "family": np.uint8,
    "protonum": np.uint8,
    "flags": np.uint8,
    "present": np.uint16,
    "timeout": np.uint32,
    "state": np.uint32,
    "orig_src": np.uint32,
    "orig_dst": np.uint32,
    "reply_src": np.uint32,
    "reply_dst": np.uint32,
    "zone": np.uint16,
    "zone_orig": np.uint16,
    "zone_reply": np.uint16,
    "mark": np.uint32,
    "use": np.uint32,
    "id": np.uint32,
    "delta_time": np.uint32,
    "secctx": np.uint32,
    "helper": np.uint32,
}
L4_COLUMNS = ("orig_l4", "reply_l4")
COUNTER_COLUMN = "counters"  # (n, 4) uint64: orig packets, orig bytes, reply packets, reply bytes
#: Dictionary name -> the code columns that index into it.
DICTIONARIES: dict[str, tuple[str, ...]] = {
    "addresses": ("orig_src", "orig_dst", "reply_src", "reply_dst"),
    "states": ("state",),
    "secctxs": ("secctx",),
    "helpers": ("helper",),
}


@dataclass(slots=True)
class ConntrackTable:
    """Columns of a parsed conntrack table, plus what the parse noticed.

    Attributes:
        columns: per-row arrays named as in :data:`COLUMN_DTYPES`, plus ``orig_l4`` and
            ``reply_l4`` (n x 3 uint16) and ``counters`` (n x 4 uint64).
        dictionaries: distinct strings per dictionary of :data:`DICTIONARIES`.
        overflow: row index -> full entry, for rows the columns cannot hold exactly.
        diagnostics: malformed lines, trailer, notices.
    """

    columns: dict[str, np.ndarray]
    dictionaries: dict[str, list[str]]
    overflow: dict[int, ConntrackEntry] = field(default_factory=dict)
    diagnostics: ParseDiagnostics = field(default_factory=ParseDiagnostics)

    def __len__(self) -> int:
        return int(self.columns["line"].shape[0])

    def __iter__(self) -> Iterator[ConntrackEntry]:
        return (self.entry(i) for i in range(len(self)))

    @property
    def nbytes(self) -> int:
        """Memory held by the columns and dictionaries (an estimate for the strings)."""
        arrays = sum(int(a.nbytes) for a in self.columns.values())
        strings = sum(49 + len(s) for values in self.dictionaries.values() for s in values)
        return arrays + strings + 600 * len(self.overflow)

    def column(self, name: str) -> np.ndarray:
        return self.columns[name]

    def decode(self, dictionary: str, codes: np.ndarray) -> list[str]:
        values = self.dictionaries[dictionary]
        return [values[int(c)] for c in codes]

    def entry(self, i: int) -> ConntrackEntry:
        """The entry of row ``i``, exactly as parsed."""
        if i in self.overflow:
            return self.overflow[i]
        c = self.columns
        present = Present(int(c["present"][i]))
        addresses = self.dictionaries["addresses"]
        protonum = int(c["protonum"][i])
        counters = c.get(COUNTER_COLUMN)
        orig = _tuple(
            addresses[int(c["orig_src"][i])],
            addresses[int(c["orig_dst"][i])],
            protonum,
            c["orig_l4"][i] if Present.L4_ORIG in present else None,
            counters[i, 0:2] if counters is not None and Present.COUNTERS_ORIG in present else None,
            int(c["zone_orig"][i]) if Present.ZONE_ORIG in present else None,
        )
        reply = _tuple(
            addresses[int(c["reply_src"][i])],
            addresses[int(c["reply_dst"][i])],
            protonum,
            c["reply_l4"][i] if Present.L4_REPLY in present else None,
            counters[i, 2:4]
            if counters is not None and Present.COUNTERS_REPLY in present
            else None,
            int(c["zone_reply"][i]) if Present.ZONE_REPLY in present else None,
        )
        flags = int(c["flags"][i])
        return ConntrackEntry(
            family=Family.IPV6 if int(c["family"][i]) == 6 else Family.IPV4,
            proto=PROTOCOL_NAMES.get(protonum, "unknown"),
            protonum=protonum,
            orig=orig,
            reply=reply,
            timeout=_opt(c, "timeout", i, present, Present.TIMEOUT),
            state=self.dictionaries["states"][int(c["state"][i])]
            if Present.STATE in present
            else None,
            flags=tuple(name for name, bit in FLAG_ORDER if flags & bit),
            mark=_opt(c, "mark", i, present, Present.MARK),
            zone=int(c["zone"][i]),
            secctx=self.dictionaries["secctxs"][int(c["secctx"][i])]
            if Present.SECCTX in present
            else None,
            use=_opt(c, "use", i, present, Present.USE),
            id=_opt(c, "id", i, present, Present.ID),
            delta_time=_opt(c, "delta_time", i, present, Present.DELTA_TIME),
            helper=self.dictionaries["helpers"][int(c["helper"][i])]
            if Present.HELPER in present
            else None,
        )

    @classmethod
    def from_entries(
        cls,
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

    @classmethod
    def concat(
        cls, parts: Sequence[ConntrackTable], diagnostics: ParseDiagnostics
    ) -> ConntrackTable:
        """Join tables, merging their dictionaries, and order rows by source line."""
        dictionaries: dict[str, list[str]] = {}
        remaps: list[dict[str, np.ndarray]] = [{} for _ in parts]
        for name in DICTIONARIES:
            merged: dict[str, int] = {}
            for k, part in enumerate(parts):
                values = part.dictionaries[name]
                # Code 0 also stands in rows whose value is absent, even when no value exists.
                remaps[k][name] = np.array(
                    [merged.setdefault(v, len(merged)) for v in values] or [0], dtype=np.uint32
                )
            dictionaries[name] = list(merged)
        columns: dict[str, np.ndarray] = {}
        names = [n for n in parts[0].columns if n != COUNTER_COLUMN] if parts else []
        for name in names:
            pieces = []
            for k, part in enumerate(parts):
                col = part.columns[name]
                dictionary = next((d for d, cols in DICTIONARIES.items() if name in cols), None)
                if dictionary is not None and len(col):
                    col = remaps[k][dictionary][col].astype(col.dtype)
                pieces.append(col)
            columns[name] = np.concatenate(pieces)
        if any(COUNTER_COLUMN in p.columns for p in parts):
            columns[COUNTER_COLUMN] = np.concatenate(
                [p.columns.get(COUNTER_COLUMN, np.zeros((len(p), 4), np.uint64)) for p in parts]
            )
        overflow: dict[int, ConntrackEntry] = {}
        offset = 0
        for part in parts:
            overflow.update({offset + i: e for i, e in part.overflow.items()})
            offset += len(part)
        order = np.argsort(columns["line"], kind="stable") if columns else np.arange(0)
        if len(order) and np.any(order != np.arange(len(order))):
            columns = {n: a[order] for n, a in columns.items()}
            position = np.empty_like(order)
            position[order] = np.arange(len(order))
            overflow = {int(position[i]): e for i, e in overflow.items()}
        return cls(columns, dictionaries, overflow, diagnostics)


def _opt(c: dict[str, np.ndarray], name: str, i: int, present: Present, bit: Present) -> int | None:
    return int(c[name][i]) if bit in present else None


def _tuple(
    src: str,
    dst: str,
    protonum: int,
    l4: np.ndarray | None,
    counters: np.ndarray | None,
    zone: int | None,
) -> FlowTuple:
    packets = int(counters[0]) if counters is not None else None
    nbytes = int(counters[1]) if counters is not None else None
    if l4 is None:
        return FlowTuple(src, dst, packets=packets, bytes=nbytes, zone=zone)
    a, b, x = int(l4[0]), int(l4[1]), int(l4[2])
    if protonum in ICMP_PROTOCOLS:
        return FlowTuple(src, dst, type=a, code=b, id=x, packets=packets, bytes=nbytes, zone=zone)
    if protonum == GRE_PROTOCOL:
        return FlowTuple(src, dst, srckey=a, dstkey=b, packets=packets, bytes=nbytes, zone=zone)
    return FlowTuple(src, dst, sport=a, dport=b, packets=packets, bytes=nbytes, zone=zone)


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
