"""The top of the HTML report: the run's verdict, the nodes by worst level, the checks by
level and the worst findings with their remedies, before anything else.

Every string from a node or a check goes through :meth:`Redactor.html
<ctdiag.report.redact.Redactor.html>`; links point at the node sections by their
position-based ids, never by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctdiag.report.redact import Redactor
from ctdiag.report.run_verdict import SEVERITY, Finding, RunVerdict
from ctdiag.report.sections import level_badge
from ctdiag.report.style import stylesheet

#: Node names listed per level on the front page; the rest are counted.
NODES_NAMED = 20
#: Check names listed per finding.
CHECKS_NAMED = 3

FRONT_PAGE_ID = "ctdiag-verdict"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _node_link(name: str, anchors: Mapping[str, str], esc: Redactor) -> str:
    anchor = anchors.get(name)
    text = esc.html(name)
    return f'<a href="#{anchor}">{text}</a>' if anchor is not None else text


def _nodes_line(verdict: RunVerdict, anchors: Mapping[str, str], esc: Redactor) -> str:
    groups = []
    for level in SEVERITY:
        names = [name for name, node_level in verdict.nodes if node_level == level]
        if not names:
            continue
        shown = ", ".join(_node_link(n, anchors, esc) for n in names[:NODES_NAMED])
        more = f" and {len(names) - NODES_NAMED:,} more" if len(names) > NODES_NAMED else ""
        groups.append(f"{level_badge(level)} {shown}{more}")
    return " &middot; ".join(groups)


def _checks(names: Sequence[str], esc: Redactor) -> str:
    shown = ", ".join(esc.html(n) for n in names[:CHECKS_NAMED])
    more = f" and {len(names) - CHECKS_NAMED:,} more" if len(names) > CHECKS_NAMED else ""
    return f"{shown}{more}"


def _finding_row(finding: Finding, anchors: Mapping[str, str], esc: Redactor) -> str:
    node = _node_link(finding.node, anchors, esc) if finding.node is not None else "-"
    if finding.remedy:
        remedy = esc.html(finding.remedy)
        if finding.trade_off:
            trade_off = esc.html(finding.trade_off)
            remedy += f'<br><span class="ctdiag-trade-off">trade-off: {trade_off}</span>'
    else:
        remedy = "-"
    return (
        f"<tr><td>{level_badge(finding.level)}</td><td>{node}</td>"
        f"<td>{_checks(finding.checks, esc)}</td><td>{esc.html(finding.finding)}</td>"
        f"<td>{remedy}</td></tr>"
    )


def _findings(verdict: RunVerdict, anchors: Mapping[str, str], esc: Redactor) -> str:
    if not verdict.findings:
        return "<p>No check failed, warned or could not run.</p>"
    rows = "".join(_finding_row(f, anchors, esc) for f in verdict.findings)
    more = (
        f'<p class="ctdiag-note">{_plural(verdict.findings_left_off, "more finding")}: see '
        "the node sections and the results below.</p>"
        if verdict.findings_left_off
        else ""
    )
    return (
        "<h3>Worst findings</h3>"
        '<table class="ctdiag-table ctdiag-findings"><tr><th>level</th><th>node</th>'
        "<th>check</th><th>finding</th><th>remedy</th></tr>"
        f"{rows}</table>{more}"
    )


def front_page(verdict: RunVerdict, anchors: Mapping[str, str], esc: Redactor) -> str:
    """The verdict block (with the report's stylesheet), to go first in the report.

    Args:
        verdict: the run's verdict.
        anchors: node name -> id of its section.
        esc: the run's redactor.
    """
    by_node_level = [
        f"{n:,} {level}"
        for level in SEVERITY
        if (n := sum(node_level == level for _, node_level in verdict.nodes))
    ]
    checked = _plural(len(verdict.nodes), "node") + " checked"
    headline = f"{checked}: {', '.join(by_node_level)}" if by_node_level else checked
    counts = " &middot; ".join(f"{level_badge(level)} {n:,}" for level, n in verdict.counts)
    nodes = _nodes_line(verdict, anchors, esc)
    return (
        f'{stylesheet()}<section class="ctdiag-verdict v-{verdict.level}" id="{FRONT_PAGE_ID}">'
        f"<h2>{level_badge(verdict.level)} {headline}</h2>"
        f"{f'<p>Nodes: {nodes}</p>' if nodes else ''}"
        f"<p>{_plural(verdict.checks, 'check')}: {counts}</p>"
        f"{_findings(verdict, anchors, esc)}"
        '<p class="ctdiag-note">Environment and thresholds: below (click to show); '
        "each node's figures, charts and raw outputs: further down.</p></section>"
    )
