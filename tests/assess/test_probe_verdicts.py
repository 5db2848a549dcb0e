"""Probe results joined to the table's verdicts, and the self-tests as verdicts (pure)."""

from __future__ import annotations

import pytest

from ctdiag.assess.probe_verdicts import PROBE_SOURCE, self_test_verdict, with_probes
from ctdiag.model.probes import ProbeKind, ProbeLevel, ProbeReport, ProbeResult
from ctdiag.model.verdict import Level, Verdict

TABLE = Verdict(Level.PASS, "default/web:80/tcp: 38 entries DNAT'd to serving endpoints",
                threshold="fail on any untranslated entry", source="kube-proxy Service NAT")


def _result(level: ProbeLevel, message: str, kind: ProbeKind = ProbeKind.SERVICE_TCP,
            port_id: str = "default/web:80/tcp") -> ProbeResult:  # fmt: skip
    return ProbeResult(port_id=port_id, kind=kind, sent=True, entry_found=True,
                       translated_to=None, reply_seen=level is ProbeLevel.PASS,
                       invalid_delta=None, level=level, message=message)  # fmt: skip


def test_a_passing_probe_confirms_the_table_and_says_so() -> None:
    verdict = with_probes(TABLE, [_result(ProbeLevel.PASS, "translated to 10.244.1.12:8080")])
    assert verdict.level is Level.PASS
    assert verdict.finding.endswith("; probe: translated to 10.244.1.12:8080")
    assert verdict.source == TABLE.source


def test_a_failing_probe_fails_a_passing_table_with_its_own_line() -> None:
    results = [_result(ProbeLevel.PASS, "ok"), _result(ProbeLevel.FAIL, "not translated")]
    verdict = with_probes(TABLE, results)
    assert verdict.level is Level.FAIL
    assert verdict.finding == "1 of 2 probe flows failed: not translated"
    assert verdict.evidence[0] == "probe: not translated"


def test_a_failing_table_keeps_its_finding_and_gains_the_probe() -> None:
    table = Verdict(Level.FAIL, "3 entries untranslated", evidence=("e1",), evidence_total=3)
    verdict = with_probes(table, [_result(ProbeLevel.FAIL, "not translated")])
    assert verdict.finding.startswith("3 entries untranslated; and 1 of 1 probe flows failed")
    assert verdict.evidence == ("probe: not translated", "e1")
    assert verdict.evidence_total == 4
    assert verdict.source == PROBE_SOURCE  # the table verdict named none


def test_no_probe_leaves_the_verdict_alone() -> None:
    assert with_probes(TABLE, []) == TABLE


@pytest.mark.parametrize("kind", [ProbeKind.INVALID, ProbeKind.UNREPLIED])
def test_self_tests(kind: ProbeKind) -> None:
    passed = ProbeReport("n", (_result(ProbeLevel.PASS, "counter rose by 1", kind, ""),))
    verdict = self_test_verdict(passed, kind)
    assert isinstance(verdict, Verdict) and verdict.level is Level.PASS
    failed = ProbeReport("n", (_result(ProbeLevel.FAIL, "counter did not rise", kind, ""),))
    verdict = self_test_verdict(failed, kind)
    assert isinstance(verdict, Verdict) and verdict.level is Level.FAIL
    assert "prove" in verdict.finding and "nothing" in verdict.finding
    skipped = ProbeReport("n", (), skipped="no python3 on n")
    assert self_test_verdict(skipped, kind) == "no python3 on n"
