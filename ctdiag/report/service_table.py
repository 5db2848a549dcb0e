"""The report's per-node Service DNAT table (issue 6 part 4): one row per expected Service port.

Service port, where its entries were sent, the ready endpoints expected, the reply sources
observed with their counts (a source that is no serving endpoint is marked), then the
counts the checks judge: stale, [UNREPLIED] towards serving endpoints, untranslated, wrong
port. The probe column is empty ("-") until probes run. Every string is redacted and escaped
through the :class:`~ctdiag.report.redact.Redactor`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctdiag.assess.service_flows import DnatRow
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


def service_dnat_table(rows: Sequence[DnatRow], esc: Redactor) -> str:
    """The DNAT table of one node; empty when no Service check ran on it."""
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{esc.html(row.port_id)}</td><td>{esc.html(row.target)}</td>"
        f"<td>{'<br>'.join(esc.html(e) for e in row.expected) or 'none'}</td>"
        f"<td>{_sources(row, esc)}</td>{_count(row.entries, bad=False)}{_count(row.stale)}"
        f"{_count(row.unreplied)}{_count(row.untranslated)}{_count(row.wrong_port)}"
        f"<td>{', '.join(map(str, row.zones)) or '-'}</td><td>-</td></tr>"
        for row in rows
    )
    return (
        f"<h3>Service DNAT ({len(rows):,} Service ports)</h3>"
        f'<table class="ctdiag-table ctdiag-services">{_HEAD}{body}</table>'
    )
