"""One check's result as the HTML shown under its row: finding, remedy, figures, evidence,
and links to its node's section and raw outputs."""

from __future__ import annotations

from ctdiag.report.model import CheckResult
from ctdiag.report.redact import Redactor
from ctdiag.report.sections import level_badge


def node_anchor(names: list[str], node: str) -> str | None:
    """The id of ``node``'s section, given the selected node names in order."""
    return f"ctdiag-node-{names.index(node) + 1}" if node in names else None


def check_extra(result: CheckResult, esc: Redactor, anchor: str | None) -> str:
    """The HTML block for one check (to be added as a pytest-html ``html`` extra)."""
    parts = [f"<p>{level_badge(result.level)} {esc.html(result.finding)}</p>"]
    if result.remedy:
        parts.append(f"<p>remedy: {esc.html(result.remedy)}</p>")
    if result.trade_off:
        parts.append(f"<p>trade-off: {esc.html(result.trade_off)}</p>")
    if result.figures:
        rows = "".join(
            f'<tr><th>{esc.html(name)}</th><td class="num">{value:,.6g}</td></tr>'
            for name, value in result.figures
        )
        parts.append(f'<table class="ctdiag-table">{rows}</table>')
    if result.evidence:
        shown = len(result.evidence)
        more = (
            f" (first {shown:,} of {result.evidence_total:,})"
            if result.evidence_total > shown
            else ""
        )
        lines = "\n".join(result.evidence)
        parts.append(f"<p>evidence{more}:</p><pre>{esc.html(lines)}</pre>")
    if anchor is not None and result.node is not None:
        parts.append(
            f'<p>node <a href="#{anchor}">{esc.html(result.node)}</a>: '
            f'<a href="#{anchor}-outputs">raw outputs</a></p>'
        )
    return f'<div class="ctdiag-evidence">{"".join(parts)}</div>'
