"""Did the kernel drop new flows because the table was full? (domain.md section 1)"""

from __future__ import annotations

from checks import Judge
from ctdiag.assess import kernel_log
from ctdiag.inspection import NodeInspection
from ctdiag.thresholds import Thresholds


def test_kernel_log_table_full(node_inspection: NodeInspection, thresholds: Thresholds,
                               judge: Judge) -> None:  # fmt: skip
    snapshot = node_inspection.snapshot
    uptime, namespace = kernel_log.node_context(snapshot)
    judge(kernel_log.table_full(node_inspection.kernel_log, thresholds, uptime_s=uptime,
                                namespace=namespace,
                                collected_at=snapshot.collected_at.timestamp()))  # fmt: skip
