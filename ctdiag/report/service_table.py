"""The report's per-node Service DNAT table: one row per expected Service port.

Service port, where its entries were sent, the ready endpoints expected, the reply sources
observed with their counts (a source that is no serving endpoint is marked), then the
counts the checks judge: stale, [UNREPLIED] towards serving endpoints, untranslated, wrong
port, and with ``--probe`` what the port's probe flow showed, plus the self-tests under the
table. Every string is redacted and escaped through the :class:`~ctdiag.report.redact.Redactor`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctdiag.analyze.service_flows import DnatRow
from ctdiag.model.probes import ProbeLevel, ProbeReport
from ctdiag.report.redact import Redactor

#: Reply sources shown per Service port; the rest are counted.
SOURCES_SHOWN = 8
_HEAD = (
    "<tr><th>Service port</th><th>sent to</th><th>expected endpoints (ready)</th>"
    "<th>observed reply sources (entries)</th><th>entries</th><th>stale</th>"
    "<th>UNREPLIED</th><th>untranslated</th><th>wrong port</th><th>zones</th>"
    "<th>probe</th></tr>"
)


def _sources(row: DnatRow, esc: Redactor) -> str:
    shown = [
        f"{esc.html(str(r))} ({r.entries:,}"
        + (f", {r.unreplied:,} UNREPLIED" if r.unreplied else "")
        + ")"
        + ("" if r.serving else ' <span class="ctdiag-problem">not serving</span>')
        for r in row.observed[:SOURCES_SHOWN]
    ]
    rest = len(row.observed) - SOURCES_SHOWN
    if rest > 0:
        shown.append(f"and {rest:,} more")
    return "<br>".join(shown) or "-"


def _count(value: int, bad: bool = True) -> str:
    style = ' class="num ctdiag-problem"' if value and bad else ' class="num"'
    return f"<td{style}>{value:,}</td>"


def _probe_cell(probes: ProbeReport | None, port_id: str, esc: Redactor) -> str:
    if probes is None:
        return "<td>-</td>"
    if probes.skipped:
        return f"<td>skipped: {esc.html(probes.skipped)}</td>"
    results = probes.service(port_id)
    if not results:
        return "<td>not probed</td>"
    cells = [
        (f'<span class="ctdiag-problem">{r.level.name}</span>' if r.level is ProbeLevel.FAIL
         else r.level.name) + f": {esc.html(r.message)}"
        for r in results
    ]  # fmt: skip
    return f"<td>{'<br>'.join(cells)}</td>"


def _self_tests(probes: ProbeReport | None, esc: Redactor) -> str:
    if probes is None or probes.skipped:
        return ""
    tests = [t for t in (probes.invalid_self_test, probes.unreplied_self_test) if t]
    lines = "".join(
        f"<li>{t.kind.value} self-test {t.level.name}: {esc.html(t.message)}</li>" for t in tests
    )
    left = "".join(f"<li>not cleaned up: {esc.html(line)}</li>" for line in probes.cleanup)
    return f"<ul class=\"ctdiag-probes\">{lines}{left}</ul>" if lines or left else ""


def service_dnat_table(
    rows: Sequence[DnatRow], esc: Redactor, probes: ProbeReport | None = None
) -> str:
    """The DNAT table of one node; empty when no Service check ran on it."""
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{esc.html(row.port_id)}</td><td>{esc.html(row.target)}</td>"
        f"<td>{'<br>'.join(esc.html(e) for e in row.expected) or 'none'}</td>"
        f"<td>{_sources(row, esc)}</td>{_count(row.entries, bad=False)}{_count(row.stale)}"
        f"{_count(row.unreplied)}{_count(row.untranslated)}{_count(row.wrong_port)}"
        f"<td>{', '.join(map(str, row.zones)) or '-'}</td>"
        f"{_probe_cell(probes, row.port_id, esc)}</tr>"
        for row in rows
    )
    return (
        f"<h3>Service DNAT ({len(rows):,} Service ports)</h3>"
        f'<table class="ctdiag-table ctdiag-services">{_HEAD}{body}</table>'
        f"{_self_tests(probes, esc)}"
    )
