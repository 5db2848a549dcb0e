"""The fast path: the C module ``ctdiag.parse._fastparse`` fills a :class:`ConntrackTable` directly.

The C code reads only the common grammar of F1 (``conntrack -L``, with or without
``-o extended``) and F8 (``/proc/net/nf_conntrack``) lines, strictly, and declines every
other line; the reference parser handles what it declines. What stays in Python is what is
cheap per *distinct* value: normalising IPv6 text (F8 prints it exploded) with the reference
parser's own :func:`~ctdiag.parse.entries.normalize_address` (compressed; IPv4-mapped in
dotted form), and merging codes whose texts normalise to the same address.

When the extension is not built, :data:`AVAILABLE` is False and :func:`parse_lines_fast`
declines every non-blank line, so callers need no second code path.
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol, cast

import numpy as np

from ctdiag.errors import ParseError
from ctdiag.model.table import (
    COLUMN_DTYPES,
    COUNTER_COLUMN,
    DICTIONARIES,
    L4_COLUMNS,
    ConntrackTable,
    Present,
)
from ctdiag.parse.entries import normalize_address

Declined = list[tuple[int, str]]
"""Lines the fast path did not parse, as (1-based line number, text without newline)."""

#: Column order of the C module's ``columns`` argument (its enum must match).
_COLUMN_ORDER: tuple[str, ...] = (*COLUMN_DTYPES, *L4_COLUMNS, COUNTER_COLUMN)
_BLANK = b" \t\r\v\f"
_ADDRESS_COLUMNS = DICTIONARIES["addresses"]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Threads the C parse may use, and the least bytes per thread worth one (the C code caps
#: the count at 8). Module attributes so tests can force the multi-chunk path on small input.
_THREADS = min(_cpus(), 8)
_MIN_CHUNK = 4 << 20


class _Accelerator(Protocol):
    def parse(
        self,
        data: bytes,
        first_line: int,
        capacity: int,
        columns: tuple[np.ndarray, ...],
        threads: int = 1,
        min_chunk: int = ...,
        /,
    ) -> tuple[int, bool, Declined, list[str], list[int], list[str], list[str], list[str]]: ...

    def count_lines(self, data: bytes, /) -> int: ...

    def line_texts(self, data: bytes, first_line: int, line_numbers: list[int], /) -> list[str]: ...


def _load() -> _Accelerator | None:
    try:
        return cast(_Accelerator, importlib.import_module("ctdiag.parse._fastparse"))
    except ImportError:
        return None


_accel = _load()
AVAILABLE: bool = _accel is not None


def parse_lines_fast(data: bytes, first_line: int = 1) -> tuple[ConntrackTable, Declined]:
    """Parse the common lines of ``data`` into a table; return the others for the reference.

    Args:
        data: complete newline-terminated lines (stderr trailer already stripped). A final
            line without a newline is declined, as is a final line without ``use=``.
        first_line: the absolute 1-based line number of the first line of ``data``.

    Returns:
        The table of the parsed lines (column ``line`` holds absolute line numbers), and the
        declined lines as ``(line_no, text)``, text decoded as UTF-8 with
        ``errors="replace"``, in line order. Blank lines are in neither.
    """
    if first_line < 0:
        raise ValueError(f"first_line must be >= 0, not {first_line}")
    if _accel is None:
        return _empty_table(), _decline_all(data, first_line)
    capacity = _accel.count_lines(data)
    arrays = _allocate(capacity)
    rows, has_counters, declined, addresses, ipv6_codes, states, secctxs, helpers = _accel.parse(
        data,
        first_line,
        capacity,
        tuple(arrays[name] for name in _COLUMN_ORDER),
        _THREADS,
        _MIN_CHUNK,
    )
    # Rows were written from the start, so the unused tail was never touched (not resident);
    # still, copy when most of the allocation is unused so the views do not pin it.
    shrink = rows < capacity // 2
    columns = {name: (a[:rows].copy() if shrink else a[:rows]) for name, a in arrays.items()}
    if not has_counters:
        del columns[COUNTER_COLUMN]
    dictionaries = {
        "addresses": addresses,
        "states": states,
        "secctxs": secctxs,
        "helpers": helpers,
    }
    table = ConntrackTable(columns, dictionaries)
    invalid = _normalise_ipv6(table, ipv6_codes)
    if invalid:
        table, more = _drop_rows_with_addresses(table, invalid, data, first_line)
        declined = sorted(declined + more)
    return table, declined


def _allocate(capacity: int) -> dict[str, np.ndarray]:
    """Uninitialised columns for ``capacity`` rows (C writes every column of every row),
    plus a zeroed counters column: rows without counters must read 0 there."""
    arrays: dict[str, np.ndarray] = {
        name: np.empty(capacity, dtype) for name, dtype in COLUMN_DTYPES.items()
    }
    for name in L4_COLUMNS:
        arrays[name] = np.empty((capacity, 3), np.uint16)
    arrays[COUNTER_COLUMN] = np.zeros((capacity, 4), np.uint64)
    return arrays


def _empty_table() -> ConntrackTable:
    columns = _allocate(0)
    del columns[COUNTER_COLUMN]
    return ConntrackTable(columns, {"addresses": [], "states": [], "secctxs": [], "helpers": []})


def _decline_all(data: bytes, first_line: int) -> Declined:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [
        (first_line + k, line.decode("utf-8", "replace"))
        for k, line in enumerate(lines)
        if line.strip(_BLANK)
    ]


def _normalise_ipv6(table: ConntrackTable, ipv6_codes: list[int]) -> set[int]:
    """Rewrite IPv6 dictionary values to compressed form, merging codes that collapse.

    Returns the codes whose text the reference refused (the C check is a port of
    :mod:`ipaddress`'s, so this is empty unless the two disagree); the caller declines
    their rows.
    """
    addresses = table.dictionaries["addresses"]
    seen: dict[str, int] = {}
    merged: dict[int, int] = {}
    invalid: set[int] = set()
    for code in ipv6_codes:
        try:
            value = normalize_address(addresses[code])
        except ParseError:
            invalid.add(code)
            continue
        first = seen.setdefault(value, code)
        if first != code:
            merged[code] = first
        addresses[code] = value
    if merged:
        # Codes are numbered by first use and a merged code always maps to an earlier one,
        # so dropping the merged codes keeps the first-use order TableBuilder would give.
        keep = np.ones(len(addresses), bool)
        keep[list(merged)] = False
        remap = np.cumsum(keep, dtype=np.int64) - 1
        for code, first in merged.items():
            remap[code] = remap[first]
        remap32 = remap.astype(np.uint32)
        for name in _ADDRESS_COLUMNS:
            table.columns[name] = remap32[table.columns[name]]
        table.dictionaries["addresses"] = [a for a, k in zip(addresses, keep, strict=True) if k]
        invalid = {int(remap[c]) for c in invalid}
    return invalid


def _drop_rows_with_addresses(
    table: ConntrackTable, codes: set[int], data: bytes, first_line: int
) -> tuple[ConntrackTable, Declined]:
    """Move the rows using any of the address ``codes`` to the declined list."""
    assert _accel is not None
    c = table.columns
    bad_codes = np.zeros(len(table.dictionaries["addresses"]), bool)
    bad_codes[list(codes)] = True
    bad = np.zeros(len(table), bool)
    for name in _ADDRESS_COLUMNS:
        bad |= bad_codes[c[name]]
    line_numbers = [int(n) for n in c["line"][bad]]
    declined = list(
        zip(line_numbers, _accel.line_texts(data, first_line, line_numbers), strict=True)
    )
    columns = {name: a[~bad] for name, a in c.items()}
    return _recode(ConntrackTable(columns, table.dictionaries)), declined


def _recode(table: ConntrackTable) -> ConntrackTable:
    """Drop dictionary values no row uses and renumber codes in order of first use."""
    c = table.columns
    uses = {
        "addresses": (np.stack([c[n] for n in _ADDRESS_COLUMNS], 1), None),
        "states": (c["state"], Present.STATE),
        "secctxs": (c["secctx"], Present.SECCTX),
        "helpers": (c["helper"], Present.HELPER),
    }
    dictionaries: dict[str, list[str]] = {}
    columns = dict(c)
    for name, (codes, bit) in uses.items():
        values = table.dictionaries[name]
        used = codes.ravel() if bit is None else codes[(c["present"] & int(bit)) != 0]
        distinct, first = np.unique(used, return_index=True)
        order = distinct[np.argsort(first, kind="stable")]
        remap = np.zeros(max(len(values), 1), np.uint32)
        remap[order] = np.arange(len(order), dtype=np.uint32)
        dictionaries[name] = [values[int(k)] for k in order]
        if bit is None:
            for i, col in enumerate(_ADDRESS_COLUMNS):
                columns[col] = remap[codes[:, i]]
        else:
            target = {"states": "state", "secctxs": "secctx", "helpers": "helper"}[name]
            columns[target] = np.where((c["present"] & int(bit)) != 0, remap[codes], 0).astype(
                np.uint32
            )
    return ConntrackTable(columns, dictionaries, table.overflow, table.diagnostics)
