"""JUnit XML reshaped for CI, on pytest's own shape of the file: grouping by node, the
message without the ``Failed: FAIL:`` stutter, WARN in ``<system-out>`` or as
``<skipped type="ctdiag.warn">``, other tests untouched (the real file of a run is tested
in test_plugin.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ctdiag.model.verdict import Level, Remedy, Verdict
from ctdiag.report.junit_xml import finish_junit
from ctdiag.report.model import CheckResult, Outcome

FAIL_ID = "checks/test_capacity.py::test_table_occupancy[worker-1]"
WARN_NAME = "test_tunables[nf_conntrack_tcp_be_liberal]"
WARN_ID = "checks/test_tunables.py::test_tunables[worker-1-nf_conntrack_tcp_be_liberal]"
#: As pytest 9 writes it: classname from the module, the verdict's message after "Failed: ".
PYTEST_XML = f"""<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="0" failures="1" skipped="0" tests="3" time="1.0">
<testcase classname="checks.test_capacity" name="test_table_occupancy[worker-1]" time="0.1">
<properties><property name="ctdiag_test_id" value="{FAIL_ID}" />
<property name="ctdiag_level" value="FAIL" /></properties>
<failure message="Failed: FAIL: table 95% full; threshold: fail at 0.9">FAIL: table 95% full; threshold: fail at 0.9
remedy: raise nf_conntrack_max</failure></testcase>
<testcase classname="checks.test_tunables" name="test_tunables[worker-1-nf_conntrack_tcp_be_liberal]" time="0.1">
<properties><property name="ctdiag_test_id" value="{WARN_ID}" /></properties>
<system-out>captured line</system-out></testcase>
<testcase classname="tests.test_other" name="test_unrelated" time="0.1" />
</testsuite></testsuites>"""  # noqa: E501


def _results() -> dict[str, CheckResult]:
    fail = Verdict(Level.FAIL, "table 95% full", threshold="fail at 0.9",
                   remedy=Remedy("raise nf_conntrack_max", "memory"))  # fmt: skip
    warn = Verdict(Level.WARN, "be_liberal = 1", remedy=Remedy("log INVALID", "CPU"),
                   evidence=("net.netfilter.nf_conntrack_tcp_be_liberal = 1",))  # fmt: skip
    return {
        FAIL_ID: CheckResult.build(nodeid=FAIL_ID, check="test_table_occupancy", node="worker-1",
                                   outcome=Outcome.FAILED, verdict=fail),
        WARN_ID: CheckResult.build(nodeid=WARN_ID, node="worker-1", outcome=Outcome.PASSED,
                                   check=WARN_NAME, verdict=warn),
    }  # fmt: skip


def _cases(text: str) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.fromstring(text).iter("testcase")}


def _properties(case: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(p.get("name"), p.get("value")) for p in case.iter("property")]


def test_cases_grouped_by_node_with_the_finding_as_message() -> None:
    text = finish_junit(PYTEST_XML, _results())
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><testsuites')
    cases = _cases(text)
    fail = cases["test_table_occupancy"]
    assert fail.get("classname") == "worker-1"
    failure = fail.find("failure")
    assert failure is not None
    assert failure.get("message") == "table 95% full; threshold: fail at 0.9"
    assert (failure.text or "").endswith("remedy: raise nf_conntrack_max")  # the full message
    assert _properties(fail) == [
        ("ctdiag_test_id", FAIL_ID), ("ctdiag_level", "FAIL"),
        ("ctdiag_finding", "table 95% full; threshold: fail at 0.9"),
        ("ctdiag_remedy", "raise nf_conntrack_max"), ("ctdiag_trade_off", "memory"),
    ]  # fmt: skip
    other = cases["test_unrelated"]
    assert other.get("classname") == "tests.test_other" and not list(other)


def test_a_passing_warn_says_so_in_system_out() -> None:
    warn = _cases(finish_junit(PYTEST_XML, _results()))[WARN_NAME]
    assert warn.get("classname") == "worker-1"
    assert warn.find("skipped") is None and warn.find("failure") is None
    out = warn.find("system-out")
    assert out is not None
    assert out.text == (
        "WARN: be_liberal = 1\nremedy: log INVALID\ntrade-off: CPU\nevidence:\n"
        "  net.netfilter.nf_conntrack_tcp_be_liberal = 1\n\ncaptured line"
    )
    assert ("ctdiag_level", "WARN") in _properties(warn)


def test_warn_as_skipped_is_counted_apart() -> None:
    root = ET.fromstring(finish_junit(PYTEST_XML, _results(), warn_as_skipped=True))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("skipped") == "1" and suite.get("tests") == "3"
    warn = _cases(ET.tostring(root, encoding="unicode"))[WARN_NAME]
    assert [child.tag for child in warn] == ["properties", "skipped", "system-out"]
    skipped = warn.find("skipped")
    assert skipped is not None
    assert (skipped.get("type"), skipped.get("message")) == ("ctdiag.warn", "WARN: be_liberal = 1")
