"""Select the rows behind a finding and render them as the lines a network engineer knows."""

from __future__ import annotations

import numpy as np

from ctdiag.model.entries import HALF_OPEN_STATES
from ctdiag.model.services import ExpectedServicePort
from ctdiag.model.table import ConntrackTable, FlagBit, Present
from ctdiag.parse.render import render_conntrack_line


def unreplied_rows(table: ConntrackTable) -> np.ndarray:
    """Row numbers of ``[UNREPLIED]`` entries."""
    return np.flatnonzero((table.column("flags") & FlagBit.UNREPLIED) != 0)


def half_open_rows(table: ConntrackTable) -> np.ndarray:
    """Row numbers of entries in SYN_SENT, SYN_RECV (and SYN_SENT2)."""
    states = table.dictionaries["states"]
    codes = [k for k, name in enumerate(states) if name in HALF_OPEN_STATES]
    if not codes:
        return np.zeros(0, dtype=np.int64)
    has_state = (table.column("present") & Present.STATE) != 0
    return np.flatnonzero(has_state & np.isin(table.column("state"), codes))


def source_rows(table: ConntrackTable, address: str) -> np.ndarray:
    """Row numbers of entries whose original source is ``address``."""
    addresses = table.dictionaries["addresses"]
    try:
        code = addresses.index(address)
    except ValueError:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(table.column("orig_src") == code)


def entry_lines(table: ConntrackTable, rows: np.ndarray, limit: int) -> tuple[str, ...]:
    """The first ``limit`` of ``rows`` as ``conntrack -L -o extended`` lines."""
    return tuple(
        render_conntrack_line(table.entry(int(i)), extended=True) for i in rows[:limit].tolist()
    )


def zones_text(zones: dict[int, int]) -> str:
    """``zone 0 (12)`` or ``zones 0 (10), 64000 (2)``: where the entries are."""
    listed = ", ".join(f"{z} ({n:,})" for z, n in sorted(zones.items()))
    return f"zone {listed}" if len(zones) == 1 else f"zones {listed}"


def serving_endpoints_text(port: ExpectedServicePort) -> str:
    """The port's serving endpoints (``10.244.1.21:53, 10.244.2.7:53``), or ``none``."""
    serving = port.port.serving_endpoints
    return ", ".join(str(e) for e in serving) if serving else "none"
