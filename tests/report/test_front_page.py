"""The run's verdict and the front page: worst levels, one finding per node and text, the
order FAIL, ERROR, WARN, capping, escaping; and the colours held to WCAG AA."""

from __future__ import annotations

import re

import pytest

from ctdiag.model.verdict import Level, Remedy, Verdict
from ctdiag.report.front_page import front_page
from ctdiag.report.model import CheckResult, Outcome
from ctdiag.report.redact import Redactor
from ctdiag.report.run_verdict import node_level, run_verdict, worst
from ctdiag.report.style import COLOURS, MIN_CONTRAST, contrast_ratio
from tests.report.samples import ATTRIBUTE, HOSTILE, SCRIPT


def _check(node: str, name: str, level: str, finding: str = "") -> CheckResult:
    nodeid = f"checks/t.py::{name}[{node}]"
    if level in ("PASS", "WARN", "FAIL"):
        verdict = Verdict(Level[level], finding or f"{name} {level}",
                          remedy=Remedy(f"fix {name}", f"cost of {name}"))  # fmt: skip
        outcome = Outcome.FAILED if level == "FAIL" else Outcome.PASSED
        return CheckResult.build(nodeid=nodeid, check=name, node=node, outcome=outcome,
                                 verdict=verdict)  # fmt: skip
    outcome = Outcome.ERROR if level == "ERROR" else Outcome.SKIPPED
    return CheckResult.build(nodeid=nodeid, check=name, node=node, outcome=outcome,
                             verdict=None, line=finding or f"{name} {level}")  # fmt: skip


def test_worst_levels() -> None:
    assert worst(["PASS", "WARN", "SKIP"]) == "WARN"
    assert worst(["ERROR", "FAIL"]) == "FAIL"
    assert worst(["PASS", "ERROR", "WARN"]) == "ERROR"
    assert worst(["SKIP", "PASS"]) == "PASS"
    assert worst([]) == "SKIP"
    assert node_level([_check("a", "t", "PASS")], "a: unreachable") == "ERROR"
    assert node_level([_check("a", "t", "FAIL")], "a: unreachable") == "FAIL"


def test_findings_are_worst_first_one_per_node_and_text_and_capped() -> None:
    checks = [
        _check("a", "test_warn", "WARN"),
        *(_check("b", f"test_{i}", "ERROR", "b: no network namespace") for i in range(20)),
        _check("a", "test_fail", "FAIL"),
        _check("c", "test_pass", "PASS"),
        _check("c", "test_skip", "SKIP"),
        *(_check("d", f"test_fail{i}", "FAIL") for i in range(12)),
    ]
    verdict = run_verdict(["a", "b", "c", "d", "e"], {"b": "b: no network namespace"}, checks)
    assert verdict.level == "FAIL"
    assert verdict.nodes == (("a", "FAIL"), ("d", "FAIL"), ("b", "ERROR"), ("c", "PASS"),
                             ("e", "SKIP"))  # fmt: skip
    assert dict(verdict.counts) == {"FAIL": 13, "ERROR": 20, "WARN": 1, "PASS": 1, "SKIP": 1}
    assert verdict.checks == 36
    # 13 FAIL findings, 1 ERROR (twenty checks, one text), 1 WARN: the first ten shown.
    assert [f.level for f in verdict.findings] == ["FAIL"] * 10
    assert verdict.findings[0].checks == ("test_fail",)
    assert verdict.findings_left_off == 5
    everything = run_verdict(["a", "b", "c", "d"], {}, checks, shown=100)
    assert [f.level for f in everything.findings] == ["FAIL"] * 13 + ["ERROR", "WARN"]
    error = everything.findings[13]
    assert (error.node, error.finding, len(error.checks)) == ("b", "b: no network namespace", 20)
    assert everything.findings[0].remedy == "fix test_fail"


@pytest.mark.parametrize(
    ("levels", "failures", "expected"),
    [(["PASS", "SKIP"], {}, "PASS"), (["PASS", "WARN"], {}, "WARN"),
     (["PASS"], {"b": "b: gone"}, "ERROR"), ([], {}, "SKIP"), (["SKIP"], {}, "SKIP")],
)  # fmt: skip
def test_run_verdict(levels: list[str], failures: dict[str, str], expected: str) -> None:
    checks = [_check("a", f"test_{i}", level) for i, level in enumerate(levels)]
    assert run_verdict(["a", *failures], failures, checks).level == expected


def test_front_page_states_the_verdict_and_escapes_everything() -> None:
    checks = [
        _check(SCRIPT, "test_fail", "FAIL", f"finding {ATTRIBUTE}"),
        _check(ATTRIBUTE, "test_x", "ERROR", f"{ATTRIBUTE}: {SCRIPT}"),
        _check("plain", "test_ok", "PASS"),
    ]
    verdict = run_verdict([SCRIPT, ATTRIBUTE, "plain"], {ATTRIBUTE: f"{ATTRIBUTE}: {SCRIPT}"},
                          checks)  # fmt: skip
    anchors = {SCRIPT: "ctdiag-node-1", ATTRIBUTE: "ctdiag-node-2", "plain": "ctdiag-node-3"}
    page = front_page(verdict, anchors, Redactor(enabled=False))
    for payload in HOSTILE:
        assert payload not in page
    assert "<script" not in page and "<img" not in page
    assert page.startswith("<style>")
    assert '<section class="ctdiag-verdict v-FAIL" id="ctdiag-verdict">' in page
    assert "3 nodes checked: 1 FAIL, 1 ERROR, 1 PASS</h2>" in page
    assert '<a href="#ctdiag-node-1">&lt;script&gt;alert(1)&lt;/script&gt;</a>' in page
    assert re.search(r"3 checks: .*FAIL</span> 1 .*ERROR</span> 1 .*PASS</span> 1", page)
    assert "fix test_fail" in page and "trade-off: cost of test_fail" in page


def test_front_page_of_a_healthy_run_and_a_redacted_one() -> None:
    checks = [_check("10.0.0.5", "test_ok", "PASS")]
    esc = Redactor()
    page = front_page(run_verdict(["10.0.0.5"], {}, checks), {}, esc)
    assert "10.0.0.5" not in page and esc.tokens["10.0.0.5"] in page
    assert "1 node checked: 1 PASS" in page
    assert "No check failed, warned or could not run." in page
    assert "Worst findings" not in page


def test_contrast_ratio_and_every_colour_pair_passes_wcag_aa() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#999999", "#ffffff") == pytest.approx(2.85, abs=0.01)  # pytest-html's
    assert contrast_ratio("#ff0000", "#e6e6e6") < MIN_CONTRAST  # pytest-html's log error lines
    for rule in COLOURS:
        ratio = contrast_ratio(rule.color, rule.background)
        assert ratio >= MIN_CONTRAST, f"{rule.selector}: {ratio:.2f}:1"
