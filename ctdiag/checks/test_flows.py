"""What fills the table: unanswered and half-open flows, and who owns it (checks guide: flows)."""

from __future__ import annotations

from ctdiag.analyze.node_state import NodeState
from ctdiag.assess import flows
from ctdiag.assess.thresholds import Thresholds
from ctdiag.checks import Judge


def test_unreplied(node_state: NodeState, thresholds: Thresholds,
                   judge: Judge) -> None:  # fmt: skip
    judge(flows.unreplied(node_state.summary, node_state.table, thresholds))


def test_half_open(node_state: NodeState, thresholds: Thresholds,
                   judge: Judge) -> None:  # fmt: skip
    judge(flows.half_open(node_state.summary, node_state.table, thresholds))


def test_top_talkers(node_state: NodeState, thresholds: Thresholds,
                     judge: Judge) -> None:  # fmt: skip
    judge(flows.top_talkers(node_state.summary, node_state.table, thresholds))
