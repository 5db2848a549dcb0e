"""Per-node sections and per-check blocks: content, escaping of hostile strings, capping,
redaction, and speed on a 262,144-entry table."""

from __future__ import annotations

import re
import time

from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.verdict import Level, Remedy, Verdict
from ctdiag.report.evidence import check_extra, node_anchor
from ctdiag.report.figures import node_figures
from ctdiag.report.model import CheckResult, Outcome
from ctdiag.report.redact import Redactor
from ctdiag.report.sections import node_section, node_views, overview
from tests.report.report_file import EXTERNAL
from tests.report.samples import ATTRIBUTE, HOSTILE, SCRIPT, hostile_node_state, node_state

ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _result(node: str, level: Level, text: str = "finding") -> CheckResult:
    verdict = Verdict(
        level, f"{text} {SCRIPT}", threshold=ATTRIBUTE, source="test",
        remedy=Remedy(f"do {SCRIPT}", f"cost {ATTRIBUTE}"),
        evidence=(f"secctx={SCRIPT}", ATTRIBUTE), evidence_total=5,
        figures=((SCRIPT, 1.5), ("count", 262_144)),
    )  # fmt: skip
    return CheckResult.build(nodeid=f"checks/t.py::test_x[{node}]", check="test_x", node=node,
                             outcome=Outcome.FAILED, verdict=verdict)  # fmt: skip


def test_hostile_node_section_is_escaped_everywhere() -> None:
    figures = node_figures(hostile_node_state())
    views = node_views([SCRIPT, ATTRIBUTE], {SCRIPT: figures}, {ATTRIBUTE: f"boom {SCRIPT}"},
                       [_result(SCRIPT, Level.FAIL), _result(ATTRIBUTE, Level.WARN)])  # fmt: skip
    esc = Redactor(enabled=False)
    page = overview(views, esc) + "".join(node_section(v, Thresholds(), esc) for v in views)
    for payload in HOSTILE:
        assert payload not in page
    assert "<img" not in page and "<script" not in page
    assert f"<h2>Node {ESCAPED_SCRIPT}</h2>" in page
    assert f"secctx={ESCAPED_SCRIPT} helper={ESCAPED_SCRIPT}" in page  # raw entries, escaped
    assert "collection failed: boom " + ESCAPED_SCRIPT in page
    assert 'id="ctdiag-node-1"' in page and 'id="ctdiag-node-2"' in page
    assert not EXTERNAL.search(page)


def test_node_section_shows_checks_charts_counters_and_outputs() -> None:
    figures = node_figures(node_state("node-a"))
    view = node_views(["node-a"], {"node-a": figures}, {}, [_result("node-a", Level.WARN)])[0]
    section = node_section(view, Thresholds(), Redactor(enabled=False))
    assert section.count('<svg class="ctdiag-chart"') == 5  # occupancy, states, talkers, ...
    for text in ("occupancy 0.0%: 3 of 262,144 entries", "entries by state", "ESTABLISHED",
                 "top UNREPLIED destinations", "10.96.0.53:53/udp", "zone 7",
                 "node_nf_conntrack_stat_insert_failed", "ctdiag_nf_conntrack_stat_clash_resolve",
                 "per second over 10.0 s", "kernel 6.1.0-18-amd64", "conntrack-tools 1.4.7",
                 "<code>conntrack -L -o extended</code>", "Raw outputs (8)",
                 'id="ctdiag-node-1-out-entries"', "l-WARN"):  # fmt: skip
        assert text in section, text
    assert re.search(r"<td>invalid</td>.*?>7<.*?>2\.00<", section)  # 7 since boot, 20 in 10 s


def test_raw_outputs_are_capped_with_a_note() -> None:
    flows = "".join(
        f"ipv4     2 udp      17 25 src=10.0.{i // 250}.{i % 250} dst=10.96.0.10 sport=1 "
        "dport=53 [UNREPLIED] src=10.96.0.10 dst=10.0.0.1 sport=53 dport=1 mark=0 use=1\n"
        for i in range(5000)
    )
    figures = node_figures(node_state("node-a", entries=flows, count=5000), max_lines=100)
    entries = next(o for o in figures.outputs if o.name == "entries")
    assert (entries.lines, entries.shown_lines, entries.truncated) == (5000, 100, True)
    view = node_views(["node-a"], {"node-a": figures}, {}, [])[0]
    section = node_section(view, Thresholds(), Redactor(enabled=False))
    assert "first 100 of 5,000 lines" in section
    block = section[section.index('id="ctdiag-node-1-out-entries"') :]
    pre = block[block.index("<pre>") + 5 : block.index("</pre>")]
    assert pre.count("\n") == 100


def test_sections_redact_every_address_with_one_token_each() -> None:
    esc = Redactor()
    figures = node_figures(node_state("10.1.2.3"))
    views = node_views(["10.1.2.3"], {"10.1.2.3": figures}, {}, [_result("10.1.2.3", Level.PASS)])
    page = overview(views, esc) + node_section(views[0], Thresholds(), esc)
    for address in ("10.1.2.3", "10.244.1.9", "10.96.0.53", "10.244.1.7", "fd00:10::9"):
        assert address not in page
        assert esc.tokens[address] in page
    assert f"Node {esc.tokens['10.1.2.3']}" in page
    assert f"{esc.tokens['10.96.0.53']}:53/udp" in page  # the same token in chart and tables


def test_check_block_escapes_and_caps_evidence_and_links_to_the_node() -> None:
    result = _result("node-b", Level.FAIL)
    block = check_extra(
        result, Redactor(enabled=False), node_anchor(["node-a", "node-b"], "node-b")
    )
    for payload in HOSTILE:
        assert payload not in block
    assert "evidence (first 2 of 5):" in block
    assert f"secctx={ESCAPED_SCRIPT}" in block
    assert '<a href="#ctdiag-node-2-outputs">raw outputs</a>' in block
    assert "262,144" in block and "l-FAIL" in block


def test_a_262144_entry_table_does_not_slow_the_report() -> None:
    template = (
        "ipv4     2 tcp      6 431999 ESTABLISHED src=10.{a}.{b}.{c} dst=10.96.{b}.{c} "
        "sport={p} dport=443 src=10.244.{b}.{c} dst=10.{a}.{b}.{c} sport=8443 dport={p} "
        "[ASSURED] mark=0 use=1\n"
    )
    flows = "".join(
        template.format(a=i >> 16, b=(i >> 8) & 255, c=i & 255, p=1024 + i % 60000)
        for i in range(262_144)
    )
    sample = node_state("big", entries=flows, count=262_144)
    started = time.perf_counter()
    figures = node_figures(sample)
    view = node_views(["big"], {"big": figures}, {}, [])[0]
    section = node_section(view, Thresholds(), Redactor())
    elapsed = time.perf_counter() - started
    assert figures.summary is not None and figures.summary.entries == 262_144
    assert len(section) < 600_000  # the listing is attached capped, not whole
    assert elapsed < 5.0, f"report of a 262,144-entry node took {elapsed:.2f} s"
