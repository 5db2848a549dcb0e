"""Is conntrack dropping flows or seeing INVALID packets right now? (domain.md s. 1, 2)"""

from __future__ import annotations

import pytest

from checks import Judge
from ctdiag.assess import counters
from ctdiag.inspection import NodeInspection
from ctdiag.thresholds import Thresholds


def test_no_drops(node_inspection: NodeInspection, judge: Judge) -> None:
    judge(counters.drops(node_inspection.stats, node_inspection.rates))


def test_invalid_rate(node_inspection: NodeInspection, thresholds: Thresholds,
                      judge: Judge) -> None:  # fmt: skip
    rates = node_inspection.rates
    if rates is None:
        pytest.skip("no sampling window (--sample-seconds 0): a rate needs two samples")
    judge(counters.invalid_rate(node_inspection.stats, rates, thresholds))
