"""Is the table about to overflow, and is its hash sized for its limit? (domain.md s. 1)"""

from __future__ import annotations

from checks import Judge
from ctdiag.assess import capacity
from ctdiag.inspection import NodeInspection
from ctdiag.thresholds import Thresholds


def test_table_occupancy(node_inspection: NodeInspection, thresholds: Thresholds,
                         judge: Judge) -> None:  # fmt: skip
    judge(capacity.occupancy(node_inspection.limits, thresholds))


def test_hash_buckets(node_inspection: NodeInspection, thresholds: Thresholds,
                      judge: Judge) -> None:  # fmt: skip
    judge(capacity.hash_buckets(node_inspection.limits, thresholds))
