"""A node's sample: what its checks read, the basis of every rate. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ctdiag.model.outputs import Snapshot

if TYPE_CHECKING:  # numpy only where tables are parsed, not wherever a sample is named
    from ctdiag.model.table import ConntrackTable


@dataclass(frozen=True, slots=True)
class NodeSample:
    """What the checks of one node read: a full snapshot and the counters a window later.

    Attributes:
        before: the full snapshot (entries, counters, tunables, rules, kernel log).
        after: counters again, ``window_s`` later; ``None`` when no window was asked for.
        table: ``before``'s flow listing, parsed while it streamed in: the table
            ``parse_listing`` makes of the stored outputs. ``None`` when it was not parsed
            during collection (a runner that cannot stream, a sample built from snapshots
            on disk); readers then parse the snapshot.
    """

    before: Snapshot
    after: Snapshot | None = None
    table: ConntrackTable | None = field(default=None, compare=False, repr=False)

    @property
    def node(self) -> str:
        return self.before.node
