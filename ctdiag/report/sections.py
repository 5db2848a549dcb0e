"""The report's per-node sections as HTML: overview, charts, tables, raw outputs.

Every string that came from a node or a check (names, addresses, findings, command output)
goes through :meth:`Redactor.html <ctdiag.report.redact.Redactor.html>`: redacted, then
escaped. Element ids are built from the node's position, never from its name.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctdiag.analyze.summary import Count
from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.outputs import EntrySource
from ctdiag.report import charts
from ctdiag.report.model import CheckResult, NodeFigures, Outcome
from ctdiag.report.raw_outputs import outputs_html
from ctdiag.report.redact import Redactor
from ctdiag.report.run_verdict import SEVERITY
from ctdiag.report.service_table import service_dnat_table
from ctdiag.report.summary_json import counter_metric

#: Rankings drawn as charts show this many bars at most.
TOP = 10


@dataclass(frozen=True, slots=True)
class NodeView:
    """One node as the report shows it: figures when collected, else the error line."""

    name: str
    anchor: str
    figures: NodeFigures | None
    failure: str | None
    checks: tuple[CheckResult, ...]


def level_badge(level: str) -> str:
    """A coloured level label (unknown levels get the neutral colour)."""
    known = level if level in SEVERITY else "other"
    return f'<span class="ctdiag-level l-{known}">{html.escape(level)}</span>'


def node_views(
    names: Sequence[str],
    figures: Mapping[str, NodeFigures],
    failures: Mapping[str, str],
    checks: Sequence[CheckResult],
) -> list[NodeView]:
    """The nodes in the order selected, nodes only named by checks after them."""
    ordered = list(dict.fromkeys([*names, *(r.node for r in checks if r.node is not None)]))
    return [
        NodeView(
            name,
            f"ctdiag-node-{index}",
            figures.get(name),
            failures.get(name),
            tuple(r for r in checks if r.node == name),
        )
        for index, name in enumerate(ordered, start=1)
    ]


def _levels(view: NodeView) -> str:
    counts = {level: sum(r.level == level for r in view.checks) for level in SEVERITY}
    shown = [f"{level_badge(level)} {n}" for level, n in counts.items() if n]
    return " ".join(shown) or "no checks ran"


def _not_here(view: NodeView) -> str:
    if any(result.outcome is not Outcome.ERROR for result in view.checks):
        # Its checks ran, so it was collected: by a pytest-xdist worker, not this process.
        return "collected by another process (pytest-xdist worker): no figures here"
    return "not collected in this run (no check of it ran)"


def overview(views: Sequence[NodeView], esc: Redactor) -> str:
    """The table of all nodes at the top of the report."""
    rows = []
    for view in views:
        figures = view.figures
        if figures is not None and figures.limits is not None:
            status = "collected"
            occupancy = f"{figures.limits.occupancy:.1%}"
            entries = f"{figures.limits.count:,} of {figures.limits.max:,}"
        else:
            status = "collected" if figures else _not_here(view)
            if view.failure is not None:
                status = (
                    f'<span class="ctdiag-error">collection failed: {esc.html(view.failure)}</span>'
                )
            occupancy = entries = "-"
        rows.append(
            f'<tr><td><a href="#{view.anchor}">{esc.html(view.name)}</a></td><td>{status}</td>'
            f'<td class="num">{occupancy}</td><td class="num">{entries}</td>'
            f"<td>{_levels(view)}</td></tr>"
        )
    note = (
        '<p class="ctdiag-note">Addresses are replaced by tokens (ip-N, ip6-N): the same '
        "address has the same token everywhere in this report and in summary.json.</p>"
        if esc.enabled
        else ""
    )
    return (
        f'<section class="ctdiag-overview"><h2>Nodes</h2>{note}'
        '<table class="ctdiag-table"><tr><th>node</th><th>status</th><th>occupancy</th>'
        f"<th>entries (count of max)</th><th>checks</th></tr>{''.join(rows)}</table></section>"
    )


def _checks_table(view: NodeView, esc: Redactor) -> str:
    if not view.checks:
        return '<p class="ctdiag-note">No check of this node ran.</p>'
    rows = "".join(
        f"<tr><td>{level_badge(r.level)}</td><td>{esc.html(r.check)}</td>"
        f"<td>{esc.html(r.finding)}</td></tr>"
        for r in view.checks
    )
    head = "<tr><th>level</th><th>check</th><th>finding</th></tr>"
    return f'<table class="ctdiag-table">{head}{rows}</table>'


def _ranking(items: Sequence[Count], esc: Redactor) -> list[tuple[str, float]]:
    return [(esc.text(item.key), float(item.count)) for item in items[:TOP]]


def _charts(view: NodeView, figures: NodeFigures, thresholds: Thresholds, esc: Redactor) -> str:
    parts = []
    prefix = view.anchor.removeprefix("ctdiag-")
    if figures.limits is not None:
        parts.append(charts.occupancy_chart(
            f"{prefix}-occupancy", figures.limits.count, figures.limits.max,
            warn=thresholds.occupancy_warn, fail=thresholds.occupancy_fail))  # fmt: skip
    summary = figures.summary
    if summary is not None:
        drawn = [
            ("states", "entries by state", [(esc.text(k), float(v)) for k, v in
                                            list(summary.by_state.items())[:15]], charts.BAR_COLOR),
            ("sources", "top talkers (original source)",
             _ranking(summary.top_sources, esc), charts.BAR_COLOR),
            ("unreplied", "top UNREPLIED destinations",
             _ranking(summary.top_unreplied_destinations, esc), charts.ALERT_COLOR),
            ("zones", "entries by conntrack zone",
             [(f"zone {z}", float(n)) for z, n in list(summary.by_zone.items())[:15]],
             charts.BAR_COLOR),
        ]  # fmt: skip
        for key, title, items, color in drawn:
            if items:
                parts.append(charts.bar_chart(f"{prefix}-{key}", title, items, color=color))
            else:
                parts.append(f'<p class="ctdiag-note">{title}: none</p>')
    return f'<div class="ctdiag-charts">{"".join(parts)}</div>'


def _breakdown(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items())


def _table_facts(figures: NodeFigures, esc: Redactor) -> str:
    rows: list[tuple[str, str]] = []
    if figures.limits is not None:
        limits = figures.limits
        rows += [("count (nf_conntrack_count)", f"{limits.count:,}"),
                 ("limit (nf_conntrack_max)", f"{limits.max:,}"),
                 ("hash buckets", f"{limits.buckets:,}"),
                 ("max / buckets", f"{limits.max_per_bucket:.2f}")]  # fmt: skip
    summary = figures.summary
    if summary is not None:
        rows += [("entries listed", f"{summary.entries:,}"),
                 ("ASSURED", f"{summary.assured:,}"), ("UNREPLIED", f"{summary.unreplied:,}"),
                 ("half-open (SYN_SENT, SYN_RECV)", f"{summary.half_open:,}"),
                 ("DNAT / SNAT", f"{summary.dnat:,} / {summary.snat:,}"),
                 ("malformed lines", f"{summary.malformed:,}"),
                 ("protocols", _breakdown(summary.by_protocol)),
                 ("families", _breakdown(summary.by_family))]  # fmt: skip
    if figures.kernel_log is not None:
        log = figures.kernel_log
        rows += [("kernel log: 'table full' lines", f"{log.table_full_count:,}"),
                 ("kernel log: INVALID packet lines", f"{log.invalid_count:,}")]  # fmt: skip
    body = "".join(f'<tr><th>{k}</th><td class="num">{esc.html(v)}</td></tr>' for k, v in rows)
    return f'<table class="ctdiag-table">{body}</table>'


def _counters(figures: NodeFigures, esc: Redactor) -> str:
    if not figures.counters:
        return '<p class="ctdiag-note">No counters could be read.</p>'
    rates = dict(figures.rates)
    window = f" over {figures.window_s:.1f} s" if figures.window_s is not None else ""
    rows = "".join(
        f"<tr><td>{esc.html(name)}</td><td><code>{esc.html(counter_metric(name))}</code></td>"
        f'<td class="num">'
        f'{value:,}</td><td class="num">{f"{rates[name]:,.2f}" if name in rates else "-"}</td></tr>'
        for name, value in figures.counters
    )
    return (
        '<table class="ctdiag-table"><tr><th>counter</th><th>metric</th><th>since boot</th>'
        f"<th>per second{window}</th></tr>{rows}</table>"
    )


def _dnat(figures: NodeFigures, esc: Redactor) -> str:
    summary = figures.summary
    if summary is None or not summary.dnat_groups:
        return ""
    rows = "".join(
        f"<tr><td>{esc.html(g.service)}</td><td>{esc.html(g.endpoint)}</td><td>{g.zone}</td>"
        f'<td class="num">{g.count:,}</td><td class="num">{g.unreplied:,}</td></tr>'
        for g in summary.dnat_groups[:TOP]
    )
    return (
        f"<h3>Largest DNAT groups ({min(TOP, summary.dnat_group_count)} of "
        f'{summary.dnat_group_count:,})</h3><table class="ctdiag-table"><tr><th>original '
        "destination</th><th>reply source (endpoint)</th><th>zone</th><th>entries</th>"
        f"<th>UNREPLIED</th></tr>{rows}</table>"
    )


def _meta(figures: NodeFigures, esc: Redactor) -> str:
    if figures.entry_source is EntrySource.PROC:
        source = "/proc (no conntrack CLI)"
    elif figures.entry_source is EntrySource.HOST_CLI:
        source = f"the host's conntrack-tools {esc.html(figures.conntrack_version or '?')}"
    else:
        source = f"conntrack-tools {esc.html(figures.conntrack_version or '?')}"
    commands = ", ".join(f"<code>{esc.html(c)}</code>" for c in figures.entry_commands)
    window = (
        f"counters sampled over {figures.window_s:.1f} s"
        if figures.window_s is not None
        else "counters read once (no rates)"
    )
    return (
        f'<p class="ctdiag-meta">kernel {esc.html(figures.kernel_release)} &middot; entries '
        f"from {commands} ({source}) &middot; counters from "
        f"<code>{esc.html(figures.counter_command or '-')}</code> &middot; collected "
        f"{figures.collected_at:%Y-%m-%d %H:%M:%S} UTC &middot; {window}</p>"
    )


def node_section(view: NodeView, thresholds: Thresholds, esc: Redactor) -> str:
    """One node: its checks, charts, figures and raw outputs (or why there are none)."""
    head = f'<section class="ctdiag-node" id="{view.anchor}"><h2>Node {esc.html(view.name)}</h2>'
    figures = view.figures
    if figures is None:
        reason = (
            f'<p class="ctdiag-error">collection failed: {esc.html(view.failure)}</p>'
            if view.failure is not None
            else f'<p class="ctdiag-note">{_not_here(view)}</p>'
        )
        return f"{head}{reason}<h3>Checks</h3>{_checks_table(view, esc)}</section>"
    problems = "".join(f'<li class="ctdiag-problem">{esc.html(p)}</li>' for p in figures.problems)
    return (
        f"{head}{_meta(figures, esc)}{f'<ul>{problems}</ul>' if problems else ''}"
        f"<h3>Checks</h3>{_checks_table(view, esc)}"
        f"{_charts(view, figures, thresholds, esc)}"
        f"<h3>Table</h3>{_table_facts(figures, esc)}"
        f"<h3>Counters</h3>{_counters(figures, esc)}"
        f"{service_dnat_table(figures.service_rows, esc, figures.probes)}{_dnat(figures, esc)}"
        f"{outputs_html(view.anchor, figures.outputs, esc)}</section>"
    )
