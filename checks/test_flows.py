"""What fills the table: unanswered and half-open flows, and who owns it (domain.md s. 3)."""

from __future__ import annotations

from checks import Judge
from ctdiag.assess import flows
from ctdiag.inspection import NodeInspection
from ctdiag.thresholds import Thresholds


def test_unreplied(node_inspection: NodeInspection, thresholds: Thresholds,
                   judge: Judge) -> None:  # fmt: skip
    judge(flows.unreplied(node_inspection.summary, node_inspection.table, thresholds))


def test_half_open(node_inspection: NodeInspection, thresholds: Thresholds,
                   judge: Judge) -> None:  # fmt: skip
    judge(flows.half_open(node_inspection.summary, node_inspection.table, thresholds))


def test_top_talkers(node_inspection: NodeInspection, thresholds: Thresholds,
                     judge: Judge) -> None:  # fmt: skip
    judge(flows.top_talkers(node_inspection.summary, node_inspection.table, thresholds))
