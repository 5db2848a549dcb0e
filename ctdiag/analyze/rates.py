"""Per-second counter rates between two statistics readings, and the two-snapshot Sample.

Cumulative counters (``invalid``, ``drop``, ``insert_failed``...) mean little on their own:
they count since boot. A check samples twice and judges the rate (checks guide: invalid).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ctdiag.errors import SnapshotError
from ctdiag.model.outputs import OutputName, Snapshot
from ctdiag.parse.stats import ConntrackStats, canonical_name, counter_delta, parse_stats


@dataclass(frozen=True, slots=True)
class CounterRates(Mapping[str, float]):
    """Per-second increase of each counter between two readings (a read-only mapping).

    Attributes:
        interval_s: seconds between the readings.
        deltas: ``(canonical name, increase)`` for counters reported by both readings.
        wrapped: names of counters for which at least one CPU's value wrapped.
        cpus_compared: CPU ids present (and well-formed) in both readings.
    """

    interval_s: float
    deltas: tuple[tuple[str, int], ...]
    wrapped: tuple[str, ...] = ()
    cpus_compared: tuple[int, ...] = ()

    def __getitem__(self, name: str) -> float:
        wanted = canonical_name(name)
        for key, delta in self.deltas:
            if key == wanted:
                return delta / self.interval_s
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.deltas)

    def __len__(self) -> int:
        return len(self.deltas)

    def delta(self, name: str) -> int | None:
        """Increase of counter ``name`` over the interval, ``None`` if not in both readings."""
        wanted = canonical_name(name)
        return next((delta for key, delta in self.deltas if key == wanted), None)


def counter_rates(before: ConntrackStats, after: ConntrackStats, interval_s: float) -> CounterRates:
    """Counter increases per second, computed per CPU so each u32 wrap is seen.

    Summing CPUs first would hide a wrap on one CPU behind growth on another, so deltas are
    taken row by row (matched by CPU id) and then added up.

    Raises:
        ValueError: ``interval_s`` is not positive.
    """
    if interval_s <= 0:
        raise ValueError(f"interval must be positive, got {interval_s}")
    earlier = {row.cpu: row for row in before.cpus}
    pairs = [(earlier[row.cpu], row) for row in after.cpus if row.cpu in earlier]
    deltas: dict[str, int] = {}
    wrapped: list[str] = []
    for old, new in pairs:
        for name, value in new.counters:
            previous = old.get(name)
            if previous is None:
                continue
            deltas[name] = deltas.get(name, 0) + counter_delta(previous, value)
            if value < previous and name not in wrapped:
                wrapped.append(name)
    cpus = tuple(new.cpu for _, new in pairs)
    return CounterRates(interval_s, tuple(deltas.items()), tuple(wrapped), cpus)


@dataclass(frozen=True, slots=True)
class Sample:
    """Two snapshots of the same node, the second taken later: the basis of every rate.

    Raises:
        SnapshotError: (on construction) different nodes, or ``after`` not later.
    """

    before: Snapshot
    after: Snapshot

    def __post_init__(self) -> None:
        if self.before.node != self.after.node:
            raise SnapshotError(f"sample mixes nodes {self.before.node!r} and {self.after.node!r}")
        if self.after.collected_at <= self.before.collected_at:
            raise SnapshotError(
                f"second snapshot of {self.after.node} ({self.after.collected_at.isoformat()})"
                f" is not later than the first ({self.before.collected_at.isoformat()})"
            )

    @property
    def interval_s(self) -> float:
        """Seconds between the two collection times."""
        return (self.after.collected_at - self.before.collected_at).total_seconds()

    def stats(self, name: str = OutputName.STATS) -> tuple[ConntrackStats, ConntrackStats]:
        """Both readings of statistics output ``name`` (F7 or F9, recognised by content)."""
        return (
            parse_stats(self.before.require(name).text),
            parse_stats(self.after.require(name).text),
        )

    def rates(self, name: str = OutputName.STATS) -> CounterRates:
        """Per-second increase of each counter of output ``name``.

        Deltas are taken per CPU with u32 wrap handling: the kernel keeps these counters as
        32-bit per-CPU values in both F7 (netlink u32) and F9 (8 hex digits).
        """
        before, after = self.stats(name)
        return counter_rates(before, after, self.interval_s)
