"""Is the table about to overflow, and is its hash sized for its limit? (checks guide: capacity)"""

from __future__ import annotations

from ctdiag.analyze.node_state import NodeState
from ctdiag.assess import capacity
from ctdiag.assess.thresholds import Thresholds
from ctdiag.checks import Judge


def test_table_occupancy(node_state: NodeState, thresholds: Thresholds,
                         judge: Judge) -> None:  # fmt: skip
    judge(capacity.occupancy(node_state.limits, thresholds))


def test_hash_buckets(node_state: NodeState, thresholds: Thresholds,
                      judge: Judge) -> None:  # fmt: skip
    judge(capacity.hash_buckets(node_state.limits, thresholds))
