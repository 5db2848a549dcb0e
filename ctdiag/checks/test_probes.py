"""Can this node's table show what the checks claim to see? Probe self-tests (``--probe``).

An impossible TCP packet must raise the ``invalid`` counter, and UDP to a closed port must
leave an ``[UNREPLIED]`` entry; otherwise the INVALID and UNREPLIED checks of this node read
a table that cannot show those problems (NOTRACK rules, drops before insertion).
"""

from __future__ import annotations

import pytest

from ctdiag.assess.probe_verdicts import self_test_verdict
from ctdiag.checks import Judge
from ctdiag.model.probes import ProbeKind, ProbeReport

OFF = "probes are off: run with --probe to send probe traffic"


def _judge_self_test(report: ProbeReport | None, kind: ProbeKind, judge: Judge) -> None:
    verdict = self_test_verdict(report, kind) if report is not None else OFF
    if isinstance(verdict, str):
        pytest.skip(verdict)
    judge(verdict)


def test_probe_invalid_self_test(probe_report: ProbeReport | None, judge: Judge) -> None:
    _judge_self_test(probe_report, ProbeKind.INVALID, judge)


def test_probe_unreplied_self_test(probe_report: ProbeReport | None, judge: Judge) -> None:
    _judge_self_test(probe_report, ProbeKind.UNREPLIED, judge)
