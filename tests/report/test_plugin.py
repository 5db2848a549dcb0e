"""The report plugin inside real pytest runs (pytester): content, escaping of hostile node
names and outputs, redaction of every address, summary.json and JUnit XML.

The inner runs check synthetic nodes: their conftest puts prepared node states (and
failures) into the node registry, so no root or network namespace is needed.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.paths import ROOT
from tests.report.report_file import EXTERNAL, addresses_in, all_text, html_sinks, report_data
from tests.report.samples import ATTRIBUTE, HOSTILE, SCRIPT, node_state

pytest_plugins = ["pytester"]

PLUGINS = ("-p", "ctdiag.plugin.cluster", "-p", "ctdiag.plugin.nodes",
           "-p", "ctdiag.plugin.verdicts", "-p", "ctdiag.plugin.report")
#: test_hostile fails, test_warned warns, the two capacity checks pass; on the node that
#: could not be collected, its first check is the error and the other three are not run.
OUTCOMES = {"failed": 1, "passed": 2, "warned": 1, "errors": 1, "skipped": 3}
CONFTEST = """
import pytest
from ctdiag.collect.node_targets import NodeTarget, TargetKind
from ctdiag.plugin.nodes import REGISTRY
from tests.report import samples

COLLECTED = {collected}
FAILED = {failed}


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    registry = config.stash[REGISTRY]
    for name in [*COLLECTED, *FAILED]:
        registry.targets[name] = NodeTarget(name, TargetKind.NETNS, name)
    for name, make in COLLECTED.items():
        registry.states[name] = make(name)
    registry.failures.update(FAILED)
"""
CHECKS = f"""
from ctdiag.model.verdict import Level, Remedy, Verdict

SCRIPT, ATTRIBUTE = {SCRIPT!r}, {ATTRIBUTE!r}


def test_hostile(node_state, judge):
    judge(Verdict(Level.FAIL, f"finding {{SCRIPT}} {{node_state.summary.top_sources[0].key}}",
                  threshold=ATTRIBUTE, source=SCRIPT, remedy=Remedy(SCRIPT, ATTRIBUTE),
                  evidence=(SCRIPT, ATTRIBUTE, "dst=10.96.0.53"), evidence_total=9,
                  figures=((SCRIPT, 1.0),)))


def test_warned(node_state, judge):
    print(SCRIPT, ATTRIBUTE)
    judge(Verdict(Level.WARN, f"warned {{ATTRIBUTE}}"))
"""


def _run(pytester: pytest.Pytester, collected: str, failed: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST.format(collected=collected, failed=failed))
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makepyfile(test_capacity=(ROOT / "checks" / "test_capacity.py").read_text())
    return pytester.runpytest(*PLUGINS, "-p", "no:cacheprovider", "--sample-seconds", "0",
                              "--html=out/report.html", "--self-contained-html",
                              "--junitxml=out/junit.xml", *args)  # fmt: skip


def test_report_escapes_hostile_node_names_entries_and_outputs(pytester: pytest.Pytester) -> None:
    collected = f"{{{SCRIPT!r}: samples.hostile_node_state}}"
    failed = f"{{{ATTRIBUTE!r}: {ATTRIBUTE + ': no network namespace ' + SCRIPT!r}}}"
    result = _run(pytester, collected, failed)
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


def test_report_has_sections_extras_and_summary_json(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "{'node-a': samples.node_state}", "{'node-b': 'node-b: gone'}")
    assert result.parseoutcomes() == OUTCOMES
    result.stdout.fnmatch_lines(["*ctdiag summary: *out/summary.json*"])
    document = (pytester.path / "out" / "report.html").read_text()
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
    summary = json.loads((pytester.path / "out" / "summary.json").read_text())
    node_a, node_b = summary["nodes"]["node-a"], summary["nodes"]["node-b"]
    assert node_a["metrics"]["node_nf_conntrack_entries"] == 3
    assert node_a["checks"]["test_hostile"]["level"] == "FAIL"
    assert node_a["checks"]["test_warned"]["level"] == "WARN"
    assert node_a["checks"]["test_table_occupancy"]["level"] == "PASS"
    assert node_b["status"] == "collection_failed"
    assert node_b["checks"]["test_hash_buckets"] == {
        "level": "ERROR", "outcome": "error", "finding": "node-b: gone", "figures": {}
    }  # fmt: skip
    properties = {
        p.get("name") for p in ET.parse(pytester.path / "out" / "junit.xml").iter("property")
    }
    assert {"ctdiag_level", "ctdiag_finding"} <= properties


def test_redact_leaves_no_address_in_html_junit_or_summary(pytester: pytest.Pytester) -> None:
    failure = "fd00::77: unreachable via 192.0.2.1"
    result = _run(pytester, "{'10.1.2.3': samples.node_state}", f"{{'fd00::77': {failure!r}}}",
                  "--redact")  # fmt: skip
    assert result.parseoutcomes() == OUTCOMES
    raw = "\n".join(
        f"{o.stdout.decode()}\n{o.stderr.decode()}" for o in node_state("10.1.2.3").snapshot.outputs
    )
    addresses = addresses_in(f"{raw}\n10.1.2.3 {failure}")
    assert {"10.1.2.3", "10.244.1.9", "fd00:10::9", "fd00::77", "192.0.2.1"} <= addresses
    out = pytester.path / "out"
    document = all_text((out / "report.html").read_text())
    junit = (out / "junit.xml").read_text()
    summary_text = (out / "summary.json").read_text()
    for address in addresses:
        for name, text in (("html", document), ("junit", junit), ("summary", summary_text)):
            assert not re.search(rf"(?<![\w.:]){re.escape(address)}(?![\w:]|\.\d)", text), (
                f"{address} in {name}"
            )
    summary = json.loads(summary_text)
    assert summary["redacted"] is True
    node_token = next(
        name for name, node in summary["nodes"].items() if node["status"] == "collected"
    )
    assert re.fullmatch(r"ip-\d+", node_token)
    assert f"<h2>Node {node_token}</h2>" in document
    assert f'name="test_hostile[{node_token}]"' in junit
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
    assert json.loads((pytester.path / "s" / "x.json").read_text())["nodes"]["node-a"]
    assert not (pytester.path / "summary.json").exists()
