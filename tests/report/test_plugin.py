"""The report plugin inside real pytest runs (pytester): content, escaping of hostile node
names and outputs, redaction of every address, the verdict first, WARN rows, summary.json
and JUnit XML.

The inner runs check synthetic nodes (:mod:`tests.report.synthetic_run`), so no root or
network namespace is needed.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.report.report_file import EXTERNAL, addresses_in, all_text, html_sinks, report_data
from tests.report.samples import ATTRIBUTE, HOSTILE, SCRIPT, node_state
from tests.report.synthetic_run import (
    CONFTEST,
    OUTCOMES,
    OUTCOMES_LINE,
    PLUGINS,
    REMEDY,
    TRADE_OFF,
    run_report,
    run_report_in,
    valid_summary,
)  # fmt: skip

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run over node-a (collected) and node-b (could not be collected), shared by the
    tests that only read its files."""
    directory = tmp_path_factory.mktemp("synthetic")
    done = run_report_in(directory, "{'node-a': samples.node_state}", "{'node-b': 'node-b: gone'}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert OUTCOMES_LINE in done.stdout.splitlines()[-1], done.stdout
    assert "ctdiag summary: " + str(directory / "out" / "report.summary.json") in done.stdout
    return directory


def test_report_escapes_hostile_node_names_entries_and_outputs(pytester: pytest.Pytester) -> None:
    collected = f"{{{SCRIPT!r}: samples.hostile_node_state}}"
    failed = f"{{{ATTRIBUTE!r}: {ATTRIBUTE + ': no network namespace ' + SCRIPT!r}}}"
    result = run_report(pytester, collected, failed)
    assert result.parseoutcomes() == OUTCOMES
    document = (pytester.path / "out" / "report.html").read_text()
    for sink in html_sinks(document):
        for payload in HOSTILE:
            assert payload not in sink
        assert "<img src=x" not in sink and "onerror=alert(1)>" not in sink
    assert not EXTERNAL.search(document)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    data = report_data(document)
    assert f"ctdiag report: {SCRIPT}, {ATTRIBUTE}" in data["title"]
    assert f"<h2>Node {escaped}</h2>" in document
    reason = html.escape(f"{ATTRIBUTE}: no network namespace {SCRIPT}")
    assert f"collection failed: {reason}" in document
    assert data["environment"]["ctdiag node 1"]["kernel"] == f"6.1 {escaped}"
    cells = [
        cell for runs in data["tests"].values() for run in runs for cell in run["resultsTableRow"]
    ]
    assert f'<td class="col-testId">test_checks.py::test_hostile[{escaped}]</td>' in cells
    ET.parse(pytester.path / "out" / "junit.xml")  # well-formed despite the payloads


def _front(document: str) -> str:
    start = document.index('<section class="ctdiag-verdict')
    return document[start : document.index("</section>", start)]


def test_report_has_sections_extras_and_summary_json(report_dir: Path) -> None:
    document = (report_dir / "out" / "report.html").read_text()
    for text in ('<section class="ctdiag-overview">', "<h2>Node node-a</h2>",
                 "<h2>Node node-b</h2>", "collection failed: node-b: gone",
                 '<svg class="ctdiag-chart"', "Raw outputs (8)", "test_table_occupancy",
                 'data-column-type="level"'):  # fmt: skip
        assert text in document, text
    data = report_data(document)
    hostile = data["tests"]["test_checks.py::test_hostile[node-a]"][0]
    block = next(e["content"] for e in hostile["extras"] if e["format_type"] == "html")
    assert "evidence (first 3 of 9):" in block and 'href="#ctdiag-node-1-outputs"' in block
    assert (
        '<td class="col-level"><span class="ctdiag-level l-FAIL">FAIL</span></td>'
        in (hostile["resultsTableRow"])
    )
    summary = valid_summary(report_dir / "out" / "report.summary.json")
    assert summary["verdict"] == "FAIL" and summary["schema_version"] == 2
    node_a, node_b = summary["nodes"]["node-a"], summary["nodes"]["node-b"]
    assert (node_a["level"], node_b["level"]) == ("FAIL", "ERROR")
    assert node_a["metrics"]["node_nf_conntrack_entries"] == 3
    assert node_a["checks"]["test_hostile"]["level"] == "FAIL"
    assert node_a["checks"]["test_hostile"]["remedy"] == SCRIPT
    assert node_a["checks"]["test_warned"] == {
        "level": "WARN", "outcome": "passed", "remedy": REMEDY, "trade_off": TRADE_OFF,
        "finding": f"warned {ATTRIBUTE}; threshold: warn at 3", "figures": {},
    }  # fmt: skip
    assert node_a["checks"]["test_skipped"]["level"] == "SKIP"
    assert node_a["checks"]["test_table_occupancy"]["level"] == "PASS"
    assert node_a["checks"]["test_table_occupancy"]["remedy"] is None
    assert node_b["status"] == "collection_failed"
    assert node_b["checks"]["test_hash_buckets"] == {
        "level": "ERROR", "outcome": "error", "finding": "node-b: gone", "remedy": None,
        "trade_off": None, "figures": {},
    }  # fmt: skip
    assert summary["levels"] == {"FAIL": 1, "WARN": 1, "SKIP": 5, "PASS": 2, "ERROR": 1}


def test_report_opens_on_the_verdict(report_dir: Path) -> None:
    document = (report_dir / "out" / "report.html").read_text()
    body = document[document.index("<body>") :]
    # First thing after the title: the verdict; the environment comes after, collapsed.
    title_end = body.index("</h1>") + len("</h1>")
    assert body[title_end:].lstrip().startswith("<style>")
    assert body.index('id="ctdiag-verdict"') < body.index('id="environment"')
    assert '<table id="environment" class="hidden">' in body
    front = _front(document)
    assert '<span class="ctdiag-level l-FAIL">FAIL</span> 2 nodes checked: 1 FAIL, 1 ERROR' in front
    assert '<a href="#ctdiag-node-1">node-a</a>' in front
    counts = r"10 checks: .*l-FAIL.*1 .*l-ERROR.*1 .*l-WARN.*1 .*l-PASS.*2 .*l-SKIP.*5"
    assert re.search(counts, front)
    rows = re.findall(r"<tr><td><span class=\"ctdiag-level l-(\w+)\">", front)
    assert rows == ["FAIL", "ERROR", "WARN"]  # worst first; node-b's error is one row
    errors = r"<td>test_\w+</td><td>node-b: gone</td>"
    assert re.search(errors, front)
    assert f"{REMEDY}<br>" in front and f"trade-off: {TRADE_OFF}" in front


def test_warn_rows_say_warn_and_have_a_filter(report_dir: Path) -> None:
    document = (report_dir / "out" / "report.html").read_text()
    data = report_data(document)
    results = {nodeid: runs[0]["result"] for nodeid, runs in data["tests"].items()}
    assert results["test_checks.py::test_warned[node-a]"] == "WARN"
    assert results["test_capacity.py::test_table_occupancy[node-a]"] == "Passed"
    warned = data["tests"]["test_checks.py::test_warned[node-a]"][0]["resultsTableRow"]
    assert warned[0] == '<td class="col-result">WARN</td>'
    assert re.search(r'data-test-result="warn">\s*<span class="warn">1 WARN,</span>', document)
    assert re.search(r'data-test-result="passed"\s*>\s*<span class="passed">2 Passed,', document)
    assert "const possibleFilters = ['warn', " in document
    counts = re.search(r'<p class="run-count">([^<]*)</p>', document)
    assert counts is not None
    assert re.fullmatch(r"10 tests took .+?: 1 failed, 1 WARN, 2 passed, 5 skipped, 1 error\.",
                        counts.group(1)), counts.group(1)  # fmt: skip


def test_failure_text_once_no_tuples_no_absolute_paths(report_dir: Path) -> None:
    document = (report_dir / "out" / "report.html").read_text()
    data = report_data(document)
    logs = {nodeid: runs[0]["log"] for nodeid, runs in data["tests"].items()}
    # The verdict's message, the skip reason and the error line are in the check's block.
    assert logs["test_checks.py::test_hostile[node-a]"] == ""
    assert logs["test_checks.py::test_skipped[node-a]"] == ""
    assert logs["test_checks.py::test_hostile[node-b]"] == ""
    assert "Captured stdout call" in logs["test_checks.py::test_warned[node-a]"]
    assert "ctdiag verdict" not in logs["test_checks.py::test_warned[node-a]"]
    hostile = data["tests"]["test_checks.py::test_hostile[node-a]"][0]
    block = next(e["content"] for e in hostile["extras"] if e["format_type"] == "html")
    assert block.count("finding &lt;script&gt;") == 1
    text = all_text(document)
    assert str(report_dir) not in text and str(ROOT) not in text
    for sink in html_sinks(document):  # what the browser shows (scripts left out)
        assert "(&#x27;" not in sink and "('" not in sink  # no (path, line, reason) tuple


def test_junit_groups_by_node_and_shows_warn(report_dir: Path) -> None:
    suite = ET.parse(report_dir / "out" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert {name for node, name in cases if node == "node-a"} == {
        "test_hostile", "test_warned", "test_skipped", "test_hash_buckets", "test_table_occupancy"
    }  # fmt: skip
    assert len([node for node, _ in cases if node == "node-b"]) == 5

    def props(case: ET.Element) -> dict[str, str]:
        return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}

    hostile = cases["node-a", "test_hostile"]
    failure = hostile.find("failure")
    assert failure is not None
    headline = f"finding {SCRIPT} 10.244.1.9; threshold: {ATTRIBUTE}; source: {SCRIPT}"
    assert failure.get("message") == headline  # the finding alone, no "Failed: FAIL: "
    assert (failure.text or "").startswith("FAIL: finding") and "remedy: " in (failure.text or "")
    assert props(hostile)["ctdiag_test_id"] == "test_checks.py::test_hostile[node-a]"
    warned = cases["node-a", "test_warned"]
    assert warned.find("failure") is None and warned.find("skipped") is None
    out = warned.find("system-out")
    assert out is not None and (out.text or "").startswith(f"WARN: warned {ATTRIBUTE}")
    assert f"remedy: {REMEDY}" in (out.text or "") and "  entry one" in (out.text or "")
    assert props(warned)["ctdiag_level"] == "WARN" and props(warned)["ctdiag_remedy"] == REMEDY
    # The node that could not be collected: one error, its other checks not run because of it.
    node_b = [case for (node, _), case in cases.items() if node == "node-b"]
    errors = [e for e in (case.find("error") for case in node_b) if e is not None]
    assert [(e.get("message"), e.text) for e in errors] == [("node-b: gone", "node-b: gone")]
    not_run = [s for s in (case.find("skipped") for case in node_b) if s is not None]
    reasons = {s.get("message", "").partition(" (its error: ")[0] for s in not_run}
    assert len(not_run) == 4 and reasons == {"not run: node node-b could not be collected"}
    skipped = cases["node-a", "test_skipped"].find("skipped")
    assert skipped is not None
    assert (skipped.get("message"), skipped.text) == ("nothing to judge on this node",) * 2
    assert props(cases["node-a", "test_skipped"])["ctdiag_level"] == "SKIP"
    assert suite.get("skipped") == "5"


def test_junit_warn_as_skipped(pytester: pytest.Pytester) -> None:
    result = run_report(pytester, "{'node-a': samples.node_state}", "{}", "--junit-warn-as-skipped")
    assert result.parseoutcomes() == {"failed": 1, "passed": 2, "warned": 1, "skipped": 1}
    suite = ET.parse(pytester.path / "out" / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "2"
    warned = next(c for c in suite.iter("testcase") if c.get("name") == "test_warned")
    skipped = warned.find("skipped")
    assert skipped is not None and skipped.get("type") == "ctdiag.warn"
    assert skipped.get("message") == f"WARN: warned {ATTRIBUTE}; threshold: warn at 3"
    assert [child.tag for child in warned] == ["properties", "skipped", "system-out"]


def test_redact_leaves_no_address_in_html_junit_or_summary(pytester: pytest.Pytester) -> None:
    failure = "fd00::77: unreachable via 192.0.2.1"
    result = run_report(pytester, "{'10.1.2.3': samples.node_state}",
                        f"{{'fd00::77': {failure!r}}}", "--redact")  # fmt: skip
    assert result.parseoutcomes() == OUTCOMES
    raw = "\n".join(
        f"{o.stdout.decode()}\n{o.stderr.decode()}" for o in node_state("10.1.2.3").snapshot.outputs
    )
    addresses = addresses_in(f"{raw}\n10.1.2.3 {failure}")
    assert {"10.1.2.3", "10.244.1.9", "fd00:10::9", "fd00::77", "192.0.2.1"} <= addresses
    out = pytester.path / "out"
    document = all_text((out / "report.html").read_text())
    junit = (out / "junit.xml").read_text()
    summary_text = (out / "report.summary.json").read_text()
    for address in addresses:
        for name, text in (("html", document), ("junit", junit), ("summary", summary_text)):
            assert not re.search(rf"(?<![\w.:]){re.escape(address)}(?![\w:]|\.\d)", text), (
                f"{address} in {name}"
            )
    summary = valid_summary(out / "report.summary.json")
    assert summary["redacted"] is True
    node_token = next(
        name for name, node in summary["nodes"].items() if node["status"] == "collected"
    )
    assert re.fullmatch(r"ip-\d+", node_token)
    assert f"<h2>Node {node_token}</h2>" in document
    assert f'>{node_token}</a>' in _front(document)
    assert f'classname="{node_token}" name="test_hostile"' in junit
    talker = summary["nodes"][node_token]["table"]["top_sources"][0]["key"]
    assert f"finding {SCRIPT} {talker}" in junit.replace("&lt;", "<").replace("&gt;", ">")


def test_summary_json_only_where_asked(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.format(collected="{'node-a': samples.node_state}", failed="{}"))
    pytester.makepyfile(test_capacity=(ROOT / "checks" / "test_capacity.py").read_text())
    result = pytester.runpytest(*PLUGINS, "-p", "no:cacheprovider", "--sample-seconds", "0")
    result.assert_outcomes(passed=2)
    assert not list(pytester.path.rglob("*.json"))
    result = pytester.runpytest(*PLUGINS, "-p", "no:cacheprovider", "--summary-json=s/x.json")
    result.assert_outcomes(passed=2)
    assert valid_summary(pytester.path / "s" / "x.json")["verdict"] == "PASS"
    assert not list(pytester.path.glob("*.json"))


def test_two_reports_in_one_folder_keep_a_summary_each(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.format(collected="{'node-a': samples.node_state}", failed="{}"))
    pytester.makepyfile(test_capacity=(ROOT / "checks" / "test_capacity.py").read_text())
    first = ("--html=out/first.html", "--occupancy-warn", "0.5")
    pytester.runpytest(*PLUGINS, "-p", "no:cacheprovider", *first).assert_outcomes(passed=2)
    before = (pytester.path / "out" / "first.summary.json").read_text()
    second = ("--html=out/second.html", "--occupancy-warn", "0.6")
    pytester.runpytest(*PLUGINS, "-p", "no:cacheprovider", *second).assert_outcomes(passed=2)
    assert (pytester.path / "out" / "first.summary.json").read_text() == before
    thresholds = [valid_summary(pytester.path / "out" / f"{name}.summary.json")["thresholds"]
                  for name in ("first", "second")]  # fmt: skip
    assert [t["occupancy_warn"] for t in thresholds] == [0.5, 0.6]
    assert sorted(p.name for p in (pytester.path / "out").glob("*.json")) == [
        "first.summary.json", "second.summary.json"
    ]  # fmt: skip


def test_under_xdist_the_log_has_no_worker_line_and_warn_is_labelled(
    pytester: pytest.Pytester,
) -> None:
    result = run_report(pytester, "{'node-a': samples.node_state}", "{}", "-n", "2")
    assert result.parseoutcomes() == {"failed": 1, "passed": 2, "warned": 1, "skipped": 1}
    data = report_data((pytester.path / "out" / "report.html").read_text())
    runs = {nodeid: runs[0] for nodeid, runs in data["tests"].items()}
    assert runs["test_checks.py::test_warned[node-a]"]["result"] == "WARN"
    for run in runs.values():  # "[gw0] linux -- Python 3.11 /path/to/python" stays out
        assert "[gw" not in run["log"] and " -- Python " not in run["log"], run["log"]
    assert runs["test_checks.py::test_hostile[node-a]"]["log"] == ""
    junit = ET.parse(pytester.path / "out" / "junit.xml").getroot()
    assert {case.get("classname") for case in junit.iter("testcase")} == {"node-a"}
