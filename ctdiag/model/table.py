"""A conntrack table stored by columns, so that a million entries fit in a few dozen MB.

A dataclass per entry costs ~370 bytes and 9 s for 1M entries; here each entry costs a
few integers in numpy arrays, and strings (addresses, states, secctx, helper) are
dictionary-encoded: an array of codes plus the list of distinct values. All four address
columns share one dictionary, so "reply source differs from original destination" is an
integer comparison.

Rows that carry anything the columns do not hold (unknown tokens, labels, timestamps, GRE
private part, secmark, a numeric value too wide for its column) keep their full
:class:`~ctdiag.model.entries.ConntrackEntry` in :attr:`ConntrackTable.overflow`, so nothing is lost
and :meth:`ConntrackTable.entry` always gives back exactly what was parsed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ctdiag.model.entries import (
    GRE_PROTOCOL,
    ICMP_PROTOCOLS,
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
    def concat(
        cls, parts: Sequence[ConntrackTable], diagnostics: ParseDiagnostics
    ) -> ConntrackTable:
        """Join tables, merging their dictionaries, and order rows by source line."""
        dictionaries, remaps = _merged_dictionaries(parts)
        places = _row_places(parts)
        columns: dict[str, np.ndarray] = {}
        names = [n for n in parts[0].columns if n != COUNTER_COLUMN] if parts else []
        for name in names:
            pieces = []
            for k, part in enumerate(parts):
                col = part.columns[name]
                dictionary = next((d for d, cols in DICTIONARIES.items() if name in cols), None)
                if k and dictionary is not None and len(col):
                    col = remaps[k][dictionary][col].astype(col.dtype)
                pieces.append(col)
            columns[name] = _join(pieces, places)
        if any(COUNTER_COLUMN in p.columns for p in parts):
            columns[COUNTER_COLUMN] = _join(
                [p.columns.get(COUNTER_COLUMN, np.zeros((len(p), 4), np.uint64)) for p in parts],
                places,
            )
        overflow: dict[int, ConntrackEntry] = {}
        offset = 0
        for k, part in enumerate(parts):
            if places is None:
                overflow.update({offset + i: e for i, e in part.overflow.items()})
            else:
                rows = np.flatnonzero(places[k]) if places[k].dtype == bool else places[k]
                overflow.update({int(rows[i]): e for i, e in part.overflow.items()})
            offset += len(part)
        return cls(columns, dictionaries, overflow, diagnostics)


def _merged_dictionaries(
    parts: Sequence[ConntrackTable],
) -> tuple[dict[str, list[str]], list[dict[str, np.ndarray]]]:
    """The joined dictionaries, and per part k >= 1 the remap of its codes into them.

    The first part keeps its codes (its values come first, in order). No dict of the first
    part's values is built: the fast path's table can hold hundreds of thousands, the other
    parts (declined lines) are small.
    """
    dictionaries: dict[str, list[str]] = {}
    remaps: list[dict[str, np.ndarray]] = [{} for _ in parts]
    for name in DICTIONARIES:
        merged = list(parts[0].dictionaries[name]) if parts else []
        later = {v for part in parts[1:] for v in part.dictionaries[name]}
        codes: dict[str, int] = {}
        if later:
            found = np.fromiter(map(later.__contains__, merged), bool, len(merged))
            codes = {merged[i]: i for i in np.flatnonzero(found).tolist()}
        for k, part in enumerate(parts[1:], 1):
            remap = []
            for v in part.dictionaries[name]:
                if v not in codes:
                    codes[v] = len(merged)
                    merged.append(v)
                remap.append(codes[v])
            # Code 0 also stands in rows whose value is absent, even when no value exists.
            remaps[k][name] = np.array(remap or [0], dtype=np.uint32)
        dictionaries[name] = merged
    return dictionaries, remaps


def _row_places(parts: Sequence[ConntrackTable]) -> list[np.ndarray] | None:
    """Where each part's rows go in the joined table ordered by line (stable), or None
    when they go one part after the other. A part whose rows stay in order (the big fast
    path table) gets a boolean mask, which numpy fills several times faster than indices."""
    if not parts:
        return None
    lines = np.concatenate([p.columns["line"] for p in parts])
    order = np.argsort(lines, kind="stable")
    if not np.any(order != np.arange(len(order))):
        return None
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    places, offset = [], 0
    for part in parts:
        rows = position[offset : offset + len(part)]
        offset += len(part)
        if len(rows) > 1 and np.all(rows[1:] > rows[:-1]):
            mask = np.zeros(len(order), dtype=bool)
            mask[rows] = True
            places.append(mask)
        else:
            places.append(rows)
    return places


def _join(pieces: list[np.ndarray], places: list[np.ndarray] | None) -> np.ndarray:
    if places is None:
        return np.concatenate(pieces)
    out = np.empty((sum(len(p) for p in pieces), *pieces[0].shape[1:]), dtype=pieces[0].dtype)
    for piece, place in zip(pieces, places, strict=True):
        out[place] = piece
    return out


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
