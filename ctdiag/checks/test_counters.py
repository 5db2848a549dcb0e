"""Is conntrack dropping flows or seeing INVALID packets right now? (checks guide)"""

from __future__ import annotations

import pytest

from ctdiag.analyze.node_state import NodeState
from ctdiag.assess import counters
from ctdiag.assess.thresholds import Thresholds
from ctdiag.checks import Judge


def test_no_drops(node_state: NodeState, judge: Judge) -> None:
    judge(counters.drops(node_state.stats, node_state.rates))


def test_invalid_rate(node_state: NodeState, thresholds: Thresholds,
                      judge: Judge) -> None:  # fmt: skip
    rates = node_state.rates
    if rates is None:
        pytest.skip("no sampling window (--sample-seconds 0): a rate needs two samples")
    judge(counters.invalid_rate(node_state.stats, rates, thresholds))
