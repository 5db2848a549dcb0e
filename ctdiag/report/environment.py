"""The report's title and the rows ctdiag adds to pytest-html's environment table.

pytest-html renders environment values as HTML (its JavaScript sets ``innerHTML``), so
every value built here is already redacted and escaped; keys are shown as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import ctdiag
from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.outputs import EntrySource
from ctdiag.report.model import NodeFigures
from ctdiag.report.redact import Redactor

#: Up to this many node names are spelled out in the title.
TITLE_NODES = 3


def report_title(nodes: Sequence[str], host: str, when: datetime, esc: Redactor) -> str:
    """``ctdiag report: NODE (host HOST), 2026-11-21 05:02 UTC`` (plain text, redacted)."""
    if not nodes:
        subject = host
    elif len(nodes) <= TITLE_NODES:
        subject = ", ".join(nodes)
    else:
        subject = f"{len(nodes)} nodes ({', '.join(nodes[:TITLE_NODES])}, ...)"
    if list(nodes) not in ([], [host]):
        subject += f" (host {host})"
    return esc.text(f"ctdiag report: {subject}, {when:%Y-%m-%d %H:%M} UTC")


def run_environment(
    thresholds: Thresholds, nodes: Sequence[str], esc: Redactor
) -> dict[str, str | dict[str, str]]:
    """Rows known when the run starts: suite version, thresholds, nodes, redaction."""
    rows: dict[str, str | dict[str, str]] = {
        "ctdiag": esc.html(ctdiag.__version__),
        "ctdiag thresholds": {name: f"{value:g}" for name, value in thresholds.items()},
        "ctdiag nodes": esc.html(", ".join(nodes) or "-"),
    }
    if esc.enabled:
        rows["ctdiag redaction"] = "addresses replaced by tokens (ip-N, ip6-N)"
    return rows


def _sources(figures: NodeFigures) -> str:
    if figures.entry_source is EntrySource.PROC:
        return "/proc/net/nf_conntrack (no conntrack CLI)"
    if figures.entry_source is EntrySource.HOST_CLI:
        return f"{'; '.join(figures.entry_commands)} (the host's conntrack-tools)"
    return f"{'; '.join(figures.entry_commands)} (conntrack-tools)"


def node_environment(
    nodes: Sequence[str],
    figures: Mapping[str, NodeFigures],
    failures: Mapping[str, str],
    esc: Redactor,
) -> dict[str, dict[str, str]]:
    """One row per node (keyed by position, never by the untrusted name): kernel,
    conntrack-tools, which sources were read, or why the node could not be read."""
    rows: dict[str, dict[str, str]] = {}
    for index, name in enumerate(nodes, start=1):
        row = {"name": esc.html(name)}
        found = figures.get(name)
        if found is not None:
            row["kernel"] = esc.html(found.kernel_release)
            row["conntrack-tools"] = esc.html(found.conntrack_version or "not installed")
            row["entries read from"] = esc.html(_sources(found))
            row["counters read from"] = esc.html(found.counter_command or "-")
        elif name in failures:
            row["collection failed"] = esc.html(failures[name])
        else:
            row["status"] = "not collected in this run"
        rows[f"ctdiag node {index}"] = row
    return rows
