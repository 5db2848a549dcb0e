"""The parts of a node's comparison: versions, reboot, occupancy, counters, tunables, rules.

Pure functions of two :class:`~ctdiag.analyze.node_state.NodeState` views or snapshots; what
cannot be read on a side is appended to ``notes`` instead of stopping the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctdiag.analyze.diff.rules import iptables_lines, line_changes, nft_lines
from ctdiag.analyze.node_state import NodeState
from ctdiag.errors import CtdiagError
from ctdiag.model.outputs import OutputName, Snapshot
from ctdiag.parse.stats import ConntrackStats, counter_delta
from ctdiag.parse.sysctl import Tunable

#: Counters whose growth means lost or refused packets (checks guide: invalid).
NOTABLE_COUNTERS = ("drop", "early_drop", "insert_failed", "invalid", "error", "chaintoolong")
#: A move of the occupancy (count/max) by at least this much is worth noting.
OCCUPANCY_NOTABLE = 0.05
#: Boot times (collection time minus uptime) further apart than this mean a reboot.
BOOT_TOLERANCE_S = 60.0
#: Rule outputs compared, and how each is read.
RULE_OUTPUTS = (
    (OutputName.RULES_RAW, iptables_lines),
    (OutputName.RULES_NAT, iptables_lines),
    (OutputName.RULES_FILTER, iptables_lines),
    (OutputName.RULES6_RAW, iptables_lines),
    (OutputName.RULES6_NAT, iptables_lines),
    (OutputName.NFT_RULESET, nft_lines),
)
#: Sysctls that are gauges, not tunables: reported under occupancy.
_GAUGES = frozenset({Tunable.COUNT.value})


@dataclass(frozen=True, slots=True)
class ValueChange:
    """A named value before and after; ``None`` where it is absent (appeared, vanished)."""

    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class CounterChange:
    """One statistics counter, summed over CPUs.

    Attributes:
        delta: growth between the snapshots (per CPU, modulo 2^32); ``None`` after a reboot
            or when one side lacks the counter.
        notable: a :data:`NOTABLE_COUNTERS` counter that grew.
    """

    name: str
    before: int | None
    after: int | None
    delta: int | None
    notable: bool


@dataclass(frozen=True, slots=True)
class Occupancy:
    """``count`` flows of ``max`` allowed."""

    count: int
    max: int

    @property
    def share(self) -> float:
        return self.count / self.max if self.max else 0.0


@dataclass(frozen=True, slots=True)
class RuleChange:
    """Rule lines added and removed in one rule output (``rules_nat``, ``nft_ruleset``...)."""

    output: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


def value_change(name: str, before: str | None, after: str | None) -> ValueChange | None:
    """A :class:`ValueChange` when the values differ, else ``None``."""
    return ValueChange(name, before, after) if before != after else None


def _uptime(snapshot: Snapshot) -> float | None:
    output = snapshot.get(OutputName.UPTIME)
    if output is None or not output.ok or not output.text.split():
        return None
    try:
        return float(output.text.split()[0])
    except ValueError:
        return None


def reboot_reason(old: NodeState, new: NodeState, notes: list[str]) -> str | None:
    """Why the node is known to have rebooted between the snapshots, or ``None``.

    Uptime going down, or the boot time (collection time minus uptime) moving later, is a
    reboot. Without uptime on both sides, counters going down are reported: a reboot, or a
    32-bit counter wrapping.
    """
    before, after = old.snapshot, new.snapshot
    up_old, up_new = _uptime(before), _uptime(after)
    if up_old is not None and up_new is not None:
        boot_old = before.collected_at.timestamp() - up_old
        boot_new = after.collected_at.timestamp() - up_new
        if up_new < up_old or boot_new - boot_old > BOOT_TOLERANCE_S:
            return f"uptime {_duration(up_old)} -> {_duration(up_new)}"
        return None
    notes.append("reboot: uptime not read on both sides")
    try:
        totals_old, totals_new = dict(old.stats.totals), dict(new.stats.totals)
    except CtdiagError:
        return None
    fell = [name for name, value in totals_new.items() if value < totals_old.get(name, 0)]
    return f"counters went down ({', '.join(fell)}): rebooted, or wrapped" if fell else None


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def occupancy_of(state: NodeState, side: str, notes: list[str]) -> Occupancy | None:
    """count/max of one side, ``None`` (and a note) when they cannot be read."""
    try:
        limits = state.limits
    except CtdiagError as exc:
        notes.append(f"occupancy {side}: {exc}")
        return None
    return Occupancy(limits.count, limits.max)


def counter_changes(
    old: NodeState, new: NodeState, *, rebooted: bool, notes: list[str]
) -> tuple[CounterChange, ...]:
    """Counters that grew (per-CPU deltas); after a reboot every non-zero one, undiffed."""
    try:
        before, after = old.stats, new.stats
    except CtdiagError as exc:
        notes.append(f"counters: {exc}")
        return ()
    totals_old, totals_new = dict(before.totals), dict(after.totals)
    changes = []
    for name in [*totals_old, *(n for n in totals_new if n not in totals_old)]:
        first, last = totals_old.get(name), totals_new.get(name)
        if rebooted or first is None or last is None:
            if first or last:
                changes.append(CounterChange(name, first, last, None, False))
            continue
        delta = _per_cpu_delta(before, after, name)
        if delta:
            notable = name in NOTABLE_COUNTERS
            changes.append(CounterChange(name, first, last, delta, notable))
    return tuple(changes)


def _per_cpu_delta(before: ConntrackStats, after: ConntrackStats, name: str) -> int:
    # Per CPU, modulo 2^32: the kernel's counters are u32 per CPU, so a sum can wrap.
    total = 0
    for row in after.cpus:
        earlier = before.cpu(row.cpu)
        old, new = (earlier.get(name) if earlier else None), row.get(name)
        if old is not None and new is not None:
            total += counter_delta(old, new)
    return total


def tunable_changes(
    old: NodeState, new: NodeState, notes: list[str]
) -> tuple[ValueChange, ...]:
    """Sysctls changed, appeared or vanished (``nf_conntrack_count`` is a gauge: left out)."""
    try:
        before, after = dict(old.tunables), dict(new.tunables)
    except CtdiagError as exc:
        notes.append(f"tunables: {exc}")
        return ()
    names = [*before, *(n for n in after if n not in before)]
    return tuple(
        ValueChange(name, before.get(name), after.get(name))
        for name in names
        if name not in _GAUGES and before.get(name) != after.get(name)
    )


def rule_changes(before: Snapshot, after: Snapshot, notes: list[str]) -> tuple[RuleChange, ...]:
    """Rule lines added and removed per rule output, counters and comments ignored."""
    changes = []
    for name, read in RULE_OUTPUTS:
        old, new = before.get(name), after.get(name)
        readable = [out is not None and out.ok for out in (old, new)]
        if not any(readable):
            continue
        if not all(readable):
            side = "before" if not readable[0] else "after"
            notes.append(f"{name}: not read {side}, rules not compared")
            continue
        assert old is not None and new is not None
        added, removed = line_changes(read(old.text), read(new.text))
        if added or removed:
            changes.append(RuleChange(str(name), tuple(added), tuple(removed)))
    return tuple(changes)
