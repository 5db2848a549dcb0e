"""Did the kernel drop new flows because the table was full? (checks guide: capacity)"""

from __future__ import annotations

from ctdiag.analyze.node_state import NodeState
from ctdiag.assess import kernel_log
from ctdiag.assess.thresholds import Thresholds
from ctdiag.checks import Judge


def test_kernel_log_table_full(node_state: NodeState, thresholds: Thresholds,
                               judge: Judge) -> None:  # fmt: skip
    snapshot = node_state.snapshot
    uptime, namespace = kernel_log.node_context(snapshot)
    judge(kernel_log.table_full(node_state.kernel_log, thresholds, uptime_s=uptime,
                                namespace=namespace,
                                collected_at=snapshot.collected_at.timestamp()))  # fmt: skip
