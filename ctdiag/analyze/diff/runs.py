"""Compare two saved runs of the same nodes (pre- and post-upgrade): pure, no I/O.

Per node present in both runs: kernel and conntrack-tools versions, reboots, occupancy,
counters since boot, tunables, rules and the table's shape. Each node's full snapshot
(``NodeSample.before``) is compared. What counts as a difference "worth noting" (the exit
status of ``python -m ctdiag diff``) is listed by :attr:`NodeDiff.differences`; the shape of
the table (states, protocols, Services, top sources) is reported but never counts, because
flows come and go by the second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ctdiag.analyze.diff.sections import (
    OCCUPANCY_NOTABLE,
    CounterChange,
    Occupancy,
    RuleChange,
    ValueChange,
    counter_changes,
    occupancy_of,
    reboot_reason,
    rule_changes,
    tunable_changes,
    value_change,
)
from ctdiag.analyze.diff.table import TableChange, table_change
from ctdiag.analyze.node_state import NodeState
from ctdiag.errors import CtdiagError
from ctdiag.model.samples import NodeSample


@dataclass(frozen=True, slots=True)
class NodeDiff:
    """What changed on one node between the two runs.

    Attributes:
        node: the node.
        collected: (before, after) collection times.
        kernel: the kernel release, when it changed.
        conntrack_version: the conntrack-tools version, when it changed.
        reboot: why the node is known to have rebooted in between; ``None`` when it did not.
        occupancy: (before, after); ``None`` on a side where it cannot be read.
        counters: counters that changed (all non-zero ones after a reboot).
        tunables: sysctls changed, appeared or vanished.
        rules: rule outputs with lines added or removed.
        table: the table's shape, when both listings could be read.
        notes: what could not be compared, and why.
    """

    node: str
    collected: tuple[datetime, datetime]
    kernel: ValueChange | None
    conntrack_version: ValueChange | None
    reboot: str | None
    occupancy: tuple[Occupancy | None, Occupancy | None]
    counters: tuple[CounterChange, ...]
    tunables: tuple[ValueChange, ...]
    rules: tuple[RuleChange, ...]
    table: TableChange | None
    notes: tuple[str, ...] = ()

    @property
    def differences(self) -> tuple[str, ...]:
        """The differences worth noting, one short phrase each (empty: none)."""
        found = [f"{c.name} changed" for c in (self.kernel, self.conntrack_version) if c]
        if self.reboot:
            found.append("rebooted")
        old, new = self.occupancy
        if old and new and abs(new.share - old.share) >= OCCUPANCY_NOTABLE:
            found.append("occupancy moved")
        found += [f"{c.name} grew" for c in self.counters if c.notable]
        found += [f"{t.name} changed" for t in self.tunables]
        found += [f"{r.output} changed" for r in self.rules]
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Uncollected:
    """A node of one run whose collection had failed: ``side`` is ``before`` or ``after``."""

    node: str
    side: str
    error: str


@dataclass(frozen=True, slots=True)
class RunDiff:
    """Two runs compared.

    Attributes:
        nodes: nodes collected in both runs, in the order of the first.
        only_before: nodes in the first run only; ``only_after``: in the second only.
        uncollected: nodes in both runs whose collection failed in one or both.
    """

    nodes: tuple[NodeDiff, ...]
    only_before: tuple[str, ...]
    only_after: tuple[str, ...]
    uncollected: tuple[Uncollected, ...] = ()

    @property
    def has_differences(self) -> bool:
        sides: dict[str, set[str]] = {}
        for item in self.uncollected:
            sides.setdefault(item.node, set()).add(item.side)
        # A node that failed in both runs failed the same way: no change to note.
        return (
            bool(self.only_before or self.only_after)
            or any(len(found) == 1 for found in sides.values())
            or any(node.differences for node in self.nodes)
        )


def diff_runs(
    before: Sequence[NodeSample],
    after: Sequence[NodeSample],
    *,
    failed_before: Mapping[str, str] | None = None,
    failed_after: Mapping[str, str] | None = None,
) -> RunDiff:
    """Compare the nodes of two runs, matched by name, in the order of ``before``.

    Args:
        before: the first run's samples.
        after: the second run's samples.
        failed_before: nodes of the first run that were not collected, with the error.
        failed_after: the same for the second run.
    """
    failed = {"before": dict(failed_before or {}), "after": dict(failed_after or {})}
    old = {sample.node: sample for sample in before}
    new = {sample.node: sample for sample in after}
    names_old = [*old, *(n for n in failed["before"] if n not in old)]
    names_new = [*new, *(n for n in failed["after"] if n not in new)]
    uncollected = [
        Uncollected(name, side, failed[side][name])
        for name in names_old
        if name in names_new
        for side in ("before", "after")
        if name in failed[side]
    ]
    return RunDiff(
        nodes=tuple(diff_node(old[name], new[name]) for name in old if name in new),
        only_before=tuple(name for name in names_old if name not in names_new),
        only_after=tuple(name for name in names_new if name not in names_old),
        uncollected=tuple(uncollected),
    )


def diff_node(before: NodeSample, after: NodeSample) -> NodeDiff:
    """Compare two samples of one node (their full snapshots)."""
    old, new = NodeState(before), NodeState(after)
    notes: list[str] = []
    a, b = old.snapshot, new.snapshot
    kernel = value_change("kernel", a.kernel_release, b.kernel_release)
    version = value_change("conntrack-tools", a.conntrack_version, b.conntrack_version)
    reboot = reboot_reason(old, new, notes) or ("kernel changed" if kernel else None)
    occupancy = (occupancy_of(old, "before", notes), occupancy_of(new, "after", notes))
    counters = counter_changes(old, new, rebooted=reboot is not None, notes=notes)
    tunables = tunable_changes(old, new, notes)
    rules = rule_changes(a, b, notes)
    try:
        table = table_change(old.summary, new.summary, old.table, new.table)
    except CtdiagError as exc:
        table = None
        notes.append(f"table: {exc}")
    return NodeDiff(
        before.node, (a.collected_at, b.collected_at), kernel, version, reboot,
        occupancy, counters, tunables, rules, table, tuple(notes),
    )  # fmt: skip
