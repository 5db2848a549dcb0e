"""The fast path: the C module ``ctdiag.parse._fastparse`` fills a :class:`ConntrackTable` directly.

The C code reads only the common grammar of F1 (``conntrack -L``, with or without
``-o extended``) and F8 (``/proc/net/nf_conntrack``) lines, strictly, and declines every
other line; the reference parser handles what it declines. Addresses are dictionary-encoded
by their binary value, so every spelling of one address (F8 prints IPv6 exploded, F1
compressed) has one code, and the C code writes each distinct value once in the text the
reference parser's :func:`~ctdiag.parse.values.normalize_address` gives (compressed as
:mod:`ipaddress` does; IPv4-mapped in dotted form): no Python runs per address.

When the extension is not built, :data:`AVAILABLE` is False and :func:`parse_lines_fast`
declines every non-blank line, so callers need no second code path.
"""

from __future__ import annotations

import importlib
import os
from typing import Protocol, cast

import numpy as np

from ctdiag.model.table import COLUMN_DTYPES, COUNTER_COLUMN, L4_COLUMNS, ConntrackTable

Declined = list[tuple[int, str]]
"""Lines the fast path did not parse, as (1-based line number, text without newline)."""

#: Column order of the C module's ``columns`` argument (its enum must match).
_COLUMN_ORDER: tuple[str, ...] = (*COLUMN_DTYPES, *L4_COLUMNS, COUNTER_COLUMN)
_BLANK = b" \t\r\v\f"


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
        addresses: object = None,
        /,
    ) -> tuple[int, bool, Declined, list[str], list[str], list[str], list[str]]: ...

    def count_lines(self, data: bytes, /) -> int: ...

    def address_dict(self) -> object: ...


def _load() -> _Accelerator | None:
    try:
        return cast(_Accelerator, importlib.import_module("ctdiag.parse._fastparse"))
    except ImportError:
        return None


_accel = _load()
AVAILABLE: bool = _accel is not None


class SharedAddresses:
    """One address dictionary for consecutive :func:`parse_lines_fast` calls (the blocks of
    one streamed listing): their codes are those one call on the joined data would give, so
    the tables join without recoding, and no Python step touches each block's addresses.

    Attributes:
        values: the addresses in code order, so far; every table parsed with this object
            has this very list as its ``addresses`` dictionary.
    """

    __slots__ = ("_codes", "values")

    def __init__(self) -> None:
        self._codes = _accel.address_dict() if _accel is not None else None
        self.values: list[str] = []


def parse_lines_fast(
    data: bytes, first_line: int = 1, *, addresses: SharedAddresses | None = None
) -> tuple[ConntrackTable, Declined]:
    """Parse the common lines of ``data`` into a table; return the others for the reference.

    Args:
        data: complete newline-terminated lines (stderr trailer already stripped). A final
            line without a newline is declined, as is a final line without ``use=``.
        first_line: the absolute 1-based line number of the first line of ``data``.
        addresses: continue this address dictionary (calls using one must not overlap).

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
    rows, has_counters, declined, new_addresses, states, secctxs, helpers = _accel.parse(
        data,
        first_line,
        capacity,
        tuple(arrays[name] for name in _COLUMN_ORDER),
        _THREADS,
        _MIN_CHUNK,
        None if addresses is None else addresses._codes,
    )
    if addresses is not None:
        addresses.values.extend(new_addresses)
    address_list = new_addresses if addresses is None else addresses.values
    # Rows were written from the start, so the unused tail was never touched (not resident);
    # still, copy when most of the allocation is unused so the views do not pin it.
    shrink = rows < capacity // 2
    columns = {name: (a[:rows].copy() if shrink else a[:rows]) for name, a in arrays.items()}
    if not has_counters:
        del columns[COUNTER_COLUMN]
    dictionaries = {
        "addresses": address_list,
        "states": states,
        "secctxs": secctxs,
        "helpers": helpers,
    }
    return ConntrackTable(columns, dictionaries), declined


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
