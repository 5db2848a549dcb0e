"""``summary.json``: per-node figures under node_exporter's metric names, and check levels.

Figures node_exporter exports keep its names (``node_nf_conntrack_entries``,
``node_nf_conntrack_entries_limit``, ``node_nf_conntrack_stat_{found,invalid,ignore,insert,
insert_failed,drop,early_drop,search_restart}``: node_exporter's names), so dashboards and
alerts built on those names read ours; what node_exporter lacks is named
``ctdiag_nf_conntrack_...``. The keys are documented in the README ("Report"); the JSON
Schema every document satisfies ships beside this module (:data:`SCHEMA_FILE`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import ctdiag
from ctdiag.assess.thresholds import Thresholds
from ctdiag.report.model import CheckResult, NodeFigures
from ctdiag.report.redact import Redactor
from ctdiag.report.run_verdict import node_level, run_verdict

SCHEMA = "ctdiag-summary"
#: Bump on any change a reader of the previous version would misread (2: ``verdict``,
#: per node ``level``, per check ``remedy`` and ``trade_off``).
SCHEMA_VERSION = 2
#: The JSON Schema of the document (package data).
SCHEMA_FILE = Path(__file__).with_name("summary.schema.json")
#: The per-CPU statistics node_exporter exports (summed over CPUs), by counter name.
NODE_EXPORTER_STATS = (
    "found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop",
    "search_restart",
)  # fmt: skip


def counter_metric(name: str) -> str:
    """The metric name of statistics counter ``name`` (canonical counter name)."""
    prefix = "node" if name in NODE_EXPORTER_STATS else "ctdiag"
    return f"{prefix}_nf_conntrack_stat_{name}"


def rate_metric(name: str) -> str:
    """The metric name of the per-second rate of counter ``name`` over the sampling window."""
    return f"ctdiag_nf_conntrack_stat_{name}_per_second"


def node_metrics(figures: NodeFigures) -> dict[str, float]:
    """Every figure of one node, by metric name (absent when it could not be read)."""
    metrics: dict[str, float] = {}
    if figures.limits is not None:
        limits = figures.limits
        metrics["node_nf_conntrack_entries"] = limits.count
        metrics["node_nf_conntrack_entries_limit"] = limits.max
        metrics["ctdiag_nf_conntrack_buckets"] = limits.buckets
        metrics["ctdiag_nf_conntrack_occupancy_ratio"] = round(limits.occupancy, 6)
        metrics["ctdiag_nf_conntrack_max_per_bucket"] = round(limits.max_per_bucket, 6)
    metrics.update((counter_metric(name), value) for name, value in figures.counters)
    if figures.window_s is not None:
        metrics["ctdiag_sample_window_seconds"] = round(figures.window_s, 3)
    metrics.update((rate_metric(name), round(value, 6)) for name, value in figures.rates)
    summary = figures.summary
    if summary is not None:
        metrics["ctdiag_nf_conntrack_listed_entries"] = summary.entries
        metrics["ctdiag_nf_conntrack_assured_entries"] = summary.assured
        metrics["ctdiag_nf_conntrack_unreplied_entries"] = summary.unreplied
        metrics["ctdiag_nf_conntrack_half_open_entries"] = summary.half_open
        metrics["ctdiag_nf_conntrack_dnat_entries"] = summary.dnat
        metrics["ctdiag_nf_conntrack_snat_entries"] = summary.snat
        metrics["ctdiag_nf_conntrack_malformed_lines"] = summary.malformed
    if figures.kernel_log is not None:
        metrics["ctdiag_kernel_log_table_full_lines"] = figures.kernel_log.table_full_count
        metrics["ctdiag_kernel_log_invalid_packet_lines"] = figures.kernel_log.invalid_count
    return metrics


def _check(result: CheckResult) -> dict[str, Any]:
    return {
        "level": result.level,
        "outcome": result.outcome.value,
        "finding": result.finding,
        "remedy": result.remedy or None,
        "trade_off": result.trade_off or None,
        "figures": dict(result.figures),
    }


def _node(
    name: str,
    figures: NodeFigures | None,
    failure: str | None,
    checks: Sequence[CheckResult],
) -> dict[str, Any]:
    mine = [result for result in checks if result.node == name]
    if figures is not None:
        entry: dict[str, Any] = {"status": "collected", "level": node_level(mine, failure)}
        entry.update(
            kernel_release=figures.kernel_release,
            conntrack_version=figures.conntrack_version,
            entry_source=figures.entry_source.value,
            collected_at=figures.collected_at.isoformat(),
            sample_window_s=figures.window_s,
            metrics=node_metrics(figures),
            problems=list(figures.problems),
            table=figures.summary.to_json() if figures.summary is not None else None,
        )
    elif failure is not None:
        entry = {"status": "collection_failed", "level": node_level(mine, failure),
                 "error": failure}  # fmt: skip
    else:
        entry = {"status": "not_collected", "level": node_level(mine, failure)}
    entry["checks"] = {result.check: _check(result) for result in mine}
    return entry


def summary_document(
    *,
    title: str,
    generated_at: datetime,
    node_names: Sequence[str],
    figures: Mapping[str, NodeFigures],
    failures: Mapping[str, str],
    checks: Sequence[CheckResult],
    thresholds: Thresholds,
    redacted: bool,
) -> dict[str, Any]:
    """The whole ``summary.json`` document (not yet redacted).

    Args:
        title: the report title.
        generated_at: when the run ended (aware).
        node_names: the nodes selected, in order; nodes only named by checks are added.
        figures: the figures of each collected node.
        failures: the error line of each node that could not be collected.
        checks: every check result of the run.
        thresholds: the run's thresholds.
        redacted: whether addresses are replaced by tokens.
    """
    names = list(dict.fromkeys([*node_names, *(r.node for r in checks if r.node is not None)]))
    levels: dict[str, int] = {}
    for result in checks:
        levels[result.level] = levels.get(result.level, 0) + 1
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "ctdiag_version": ctdiag.__version__,
        "title": title,
        "generated_at": generated_at.isoformat(),
        "redacted": redacted,
        "verdict": run_verdict(names, failures, checks).level,
        "thresholds": dict(thresholds.items()),
        "levels": levels,
        "nodes": {
            name: _node(name, figures.get(name), failures.get(name), checks) for name in names
        },
    }


def summary_text(document: Mapping[str, Any], redactor: Redactor) -> str:
    """The document as JSON text, every string (and key) passed through ``redactor``."""
    return json.dumps(redactor.value(document), indent=2, ensure_ascii=False) + "\n"
