"""How the shape of a conntrack table changed between two listings: pure, no I/O.

Counts by state and protocol, the usual totals, the Service -> endpoint pairs seen in DNAT'd
flows that appeared or vanished, and the sources that entered or left the top talkers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ctdiag.analyze.summary import TableSummary, dnat_groups
from ctdiag.model.table import ConntrackTable

_TOTALS = ("entries", "assured", "unreplied", "half_open", "dnat", "snat")


@dataclass(frozen=True, slots=True)
class CountChange:
    """How many entries had ``key`` before and after."""

    key: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class TableChange:
    """The table's shape, before and after (only what changed).

    Attributes:
        totals: entries, ASSURED, UNREPLIED, half-open, DNAT and SNAT counts that changed.
        states: entries per state (``udp:``-prefixed for non-TCP) that changed.
        protocols: entries per protocol that changed.
        services_appeared: ``service -> endpoint`` pairs of DNAT'd flows seen only after.
        services_vanished: pairs seen only before.
        sources_entered: addresses that entered the top sources.
        sources_left: addresses that left the top sources.
    """

    totals: tuple[CountChange, ...]
    states: tuple[CountChange, ...]
    protocols: tuple[CountChange, ...]
    services_appeared: tuple[str, ...]
    services_vanished: tuple[str, ...]
    sources_entered: tuple[str, ...]
    sources_left: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not any(getattr(self, field.name) for field in fields(self))


def _counts(before: Mapping[str, int], after: Mapping[str, int]) -> tuple[CountChange, ...]:
    keys = [*before, *(k for k in after if k not in before)]
    return tuple(
        CountChange(k, before.get(k, 0), after.get(k, 0))
        for k in keys
        if before.get(k, 0) != after.get(k, 0)
    )


def _services(table: ConntrackTable) -> list[str]:
    pairs = []
    for group in dnat_groups(table):
        zone = f" (zone {group.zone})" if group.zone else ""
        pairs.append(f"{group.service} -> {group.endpoint}{zone}")
    return sorted(set(pairs))


def table_change(
    before: TableSummary,
    after: TableSummary,
    table_before: ConntrackTable,
    table_after: ConntrackTable,
) -> TableChange:
    """Compare two tables, given their summaries (the checks' own) and the tables."""
    totals = _counts(
        {name: getattr(before, name) for name in _TOTALS},
        {name: getattr(after, name) for name in _TOTALS},
    )
    services_old, services_new = _services(table_before), _services(table_after)
    sources_old = [c.key for c in before.top_sources]
    sources_new = [c.key for c in after.top_sources]
    known_old, known_new = set(services_old), set(services_new)
    return TableChange(
        totals=totals,
        states=_counts(before.by_state, after.by_state),
        protocols=_counts(before.by_protocol, after.by_protocol),
        services_appeared=tuple(s for s in services_new if s not in known_old),
        services_vanished=tuple(s for s in services_old if s not in known_new),
        sources_entered=tuple(s for s in sources_new if s not in sources_old),
        sources_left=tuple(s for s in sources_old if s not in sources_new),
    )
