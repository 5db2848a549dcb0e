"""The per-node Service DNAT table: rows from the indexed flows, hostile names escaped,
redaction, and no table for a node whose Service checks did not run."""

from __future__ import annotations

from ctdiag.assess.thresholds import Thresholds
from ctdiag.parse.expect_file import load_expectations
from ctdiag.report.figures import node_figures
from ctdiag.report.redact import Redactor
from ctdiag.report.sections import node_section, node_views
from ctdiag.report.service_table import service_dnat_table
from tests.report.samples import ATTRIBUTE, HOSTILE, SCRIPT, node_state

#: The sample flows: 10.96.0.10:80 is DNAT'd to 10.244.1.7:8080 (a serving endpoint of web),
#: 10.96.0.53:53/udp is untranslated (dns has no rule).
EXPECT = f"""\
services:
  - name: web
    clusterIP: 10.96.0.10
    ports: [{{port: 80, targetPort: 8080}}]
    endpoints: [{{ip: 10.244.1.7, pod: web-1}}, {{ip: 10.244.1.8, ready: false}}]
  - name: dns
    namespace: {SCRIPT!r}
    clusterIP: 10.96.0.53
    ports: [{{port: 53, protocol: UDP, name: {ATTRIBUTE!r}}}]
    endpoints: [{{ip: 10.244.1.21}}]
"""
SERVICES = load_expectations(EXPECT, "report.yaml")


def _section(redact: bool = False) -> str:
    node = node_state("node-a")
    node.service_flows(SERVICES)
    figures = node_figures(node)
    view = node_views(["node-a"], {"node-a": figures}, {}, [])[0]
    return node_section(view, Thresholds(), Redactor(enabled=redact))


def test_dnat_table_shows_each_service_port_with_its_counts() -> None:
    section = _section()
    assert "<h3>Service DNAT (2 Service ports)</h3>" in section
    table = section[section.index("Service DNAT") :]
    web = table[table.index("default/web:80/tcp") :].split("</tr>")[0]
    cells = web.split("<td")
    assert "10.96.0.10:80/tcp" in cells[1]
    assert "10.244.1.7:8080" in cells[2] and "10.244.1.8" not in cells[2]  # ready only
    assert "10.244.1.7:8080 (1)" in cells[3] and "not serving" not in cells[3]
    counts = [c.split(">")[1].split("<")[0] for c in cells[4:9]]
    assert counts == ["1", "0", "0", "0", "0"]  # entries, stale, UNREPLIED, untranslated, wrong
    assert cells[-1].startswith(">-<")  # the probe slot
    dns = table[table.index("dns:53/udp") :].split("</tr>")[0].split("<td")
    assert [c.split(">")[1].split("<")[0] for c in dns[4:9]] == ["1", "0", "0", "1", "0"]
    assert 'class="num ctdiag-problem">1<' in "<td".join(dns)  # untranslated is marked


def test_hostile_service_names_are_escaped() -> None:
    section = _section()
    for payload in HOSTILE:
        assert payload not in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;/dns:53/udp" in section


def test_addresses_are_redacted_like_everywhere_else() -> None:
    section = _section(redact=True)
    table = section[section.index("Service DNAT") :]
    assert "10.244.1.7" not in table and "10.96.0.10" not in table
    assert "ip-" in table


def test_no_table_without_service_checks() -> None:
    figures = node_figures(node_state("node-a"))
    assert figures.service_rows == ()
    view = node_views(["node-a"], {"node-a": figures}, {}, [])[0]
    assert "Service DNAT" not in node_section(view, Thresholds(), Redactor(enabled=False))
    assert service_dnat_table((), Redactor(enabled=False)) == ""


def test_probe_results_fill_the_probe_column_and_list_the_self_tests() -> None:
    from ctdiag.model.probes import ProbeKind, ProbeLevel, ProbeReport, ProbeResult

    def result(kind: ProbeKind, port_id: str, level: ProbeLevel, message: str) -> ProbeResult:
        return ProbeResult(port_id, kind, True, True, None, True, None, level, message)

    node = node_state("node-a")
    node.service_flows(SERVICES)
    node.probe_report = ProbeReport("node-a", (
        result(ProbeKind.SERVICE_TCP, "default/web:80/tcp", ProbeLevel.PASS, "translated"),
        result(ProbeKind.SERVICE_UDP, f"{SCRIPT}/dns:53/udp", ProbeLevel.FAIL, SCRIPT),
        result(ProbeKind.INVALID, "", ProbeLevel.PASS, "invalid counter rose by 1"),
    ))  # fmt: skip
    figures = node_figures(node)
    html = service_dnat_table(figures.service_rows, Redactor(), figures.probes)
    web = html[html.index("default/web:80/tcp") :].split("</tr>")[0]
    assert web.endswith("<td>PASS: translated</td>")
    dns = html[html.index("dns:53/udp") :].split("</tr>")[0]
    assert '<span class="ctdiag-problem">FAIL</span>: &lt;script&gt;' in dns
    assert SCRIPT not in html
    assert "<li>invalid self-test PASS: invalid counter rose by 1</li>" in html
    skipped = ProbeReport("node-a", (), skipped="no python3 on node-a")
    html = service_dnat_table(figures.service_rows, Redactor(), skipped)
    assert "<td>skipped: no python3 on node-a</td>" in html and "self-test" not in html
