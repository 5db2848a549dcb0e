"""summary.json: node_exporter metric names, our additions, the verdict, check levels and
remedies, failed nodes; every document valid against the shipped JSON Schema."""

from __future__ import annotations

import copy
import json
import tomllib

import jsonschema
import pytest

from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.verdict import Level, Remedy, Verdict
from ctdiag.report.figures import node_figures
from ctdiag.report.model import CheckResult, Outcome
from ctdiag.report.redact import Redactor
from ctdiag.report.summary_json import (
    SCHEMA_FILE,
    counter_metric,
    summary_document,
    summary_text,
)
from tests.paths import ROOT
from tests.report.samples import T0, node_state

NODE_EXPORTER = [
    "node_nf_conntrack_entries", "node_nf_conntrack_entries_limit",
    *(f"node_nf_conntrack_stat_{name}" for name in (
        "found", "invalid", "ignore", "insert", "insert_failed", "drop", "early_drop",
        "search_restart")),
]  # fmt: skip


def _document(redactor: Redactor) -> dict[str, object]:
    figures = {"10.0.0.5": node_figures(node_state("10.0.0.5"))}
    verdict = Verdict(Level.WARN, "table 80% full", figures=(("occupancy", 0.8),),
                      remedy=Remedy("raise nf_conntrack_max", "kernel memory"))  # fmt: skip
    checks = [
        CheckResult.build(nodeid="c.py::test_table_occupancy[10.0.0.5]", node="10.0.0.5",
                          check="test_table_occupancy", outcome=Outcome.PASSED, verdict=verdict),
        CheckResult.build(nodeid="c.py::test_table_occupancy[down]", node="down",
                          check="test_table_occupancy", outcome=Outcome.ERROR, verdict=None,
                          line="down: no network namespace 'down'"),
    ]  # fmt: skip
    document = summary_document(
        title="ctdiag report", generated_at=T0, node_names=["10.0.0.5", "down", "idle"],
        figures=figures, failures={"down": "down: no network namespace 'down'"}, checks=checks,
        thresholds=Thresholds(), redacted=redactor.enabled,
    )  # fmt: skip
    loaded: dict[str, object] = json.loads(summary_text(document, redactor))
    jsonschema.validate(loaded, _schema())
    return loaded


def _schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_metrics_use_node_exporter_names_and_ours_for_the_rest() -> None:
    document = _document(Redactor(enabled=False))
    assert document["schema"] == "ctdiag-summary" and document["schema_version"] == 2
    node = document["nodes"]["10.0.0.5"]  # type: ignore[index]
    metrics = node["metrics"]
    for name in NODE_EXPORTER:
        assert name in metrics, name
    assert metrics["node_nf_conntrack_entries"] == 3
    assert metrics["node_nf_conntrack_entries_limit"] == 262_144
    assert metrics["node_nf_conntrack_stat_invalid"] == 7  # summed over both CPUs
    assert metrics["node_nf_conntrack_stat_ignore"] == 42  # only /proc has it
    assert metrics["ctdiag_nf_conntrack_stat_clash_resolve"] == 2
    assert metrics["ctdiag_nf_conntrack_stat_invalid_per_second"] == 2.0
    assert metrics["ctdiag_nf_conntrack_buckets"] == 65_536
    assert metrics["ctdiag_nf_conntrack_unreplied_entries"] == 2
    assert metrics["ctdiag_nf_conntrack_half_open_entries"] == 1
    assert metrics["ctdiag_sample_window_seconds"] == 10.0
    assert node["entry_source"] == "conntrack-cli" and node["conntrack_version"] == "1.4.7"
    assert node["table"]["by_zone"] == {"0": 2, "7": 1}
    assert node["checks"]["test_table_occupancy"] == {
        "level": "WARN", "outcome": "passed", "finding": "table 80% full",
        "remedy": "raise nf_conntrack_max", "trade_off": "kernel memory",
        "figures": {"occupancy": 0.8},
    }  # fmt: skip
    assert node["level"] == "WARN"
    assert document["levels"] == {"WARN": 1, "ERROR": 1}
    assert document["verdict"] == "ERROR"  # the node that could not be read is worse than WARN


def test_failed_and_uncollected_nodes_are_listed_with_their_reason() -> None:
    nodes = _document(Redactor(enabled=False))["nodes"]
    assert nodes["down"] == {  # type: ignore[index]
        "status": "collection_failed", "level": "ERROR",
        "error": "down: no network namespace 'down'",
        "checks": {"test_table_occupancy": {"level": "ERROR", "outcome": "error",
                   "finding": "down: no network namespace 'down'", "remedy": None,
                   "trade_off": None, "figures": {}}},
    }  # fmt: skip
    assert nodes["idle"] == {  # type: ignore[index]
        "status": "not_collected", "level": "SKIP", "checks": {}
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [(("verdict",), "BAD"), (("schema_version",), 1),
     (("nodes", "down", "checks", "test_table_occupancy", "remedy"), 3),
     (("nodes", "10.0.0.5", "metrics", "node_nf_conntrack_entries"), "many"),
     (("nodes", "down", "kernel_release"), "6.1")],
)  # fmt: skip
def test_schema_rejects_what_a_reader_would_misread(path: tuple[str, ...], value: object) -> None:
    document = copy.deepcopy(_document(Redactor(enabled=False)))
    target: dict[str, object] = document
    for key in path[:-1]:
        target = target[key]  # type: ignore[assignment]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _schema())


def test_schema_ships_with_the_package() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "report/summary.schema.json" in package_data["package-data"]["ctdiag"]
    assert SCHEMA_FILE.parent.name == "report" and SCHEMA_FILE.is_file()


def test_redacted_summary_has_tokens_only() -> None:
    redactor = Redactor()
    text = json.dumps(_document(redactor))
    for address in ("10.0.0.5", "10.244.1.9", "10.96.0.53", "fd00:10::9", "fd00:96::1"):
        assert address not in text
    assert f'"{redactor.tokens["10.0.0.5"]}": {{"status": "collected"' in text


def test_counter_metric_names() -> None:
    assert counter_metric("early_drop") == "node_nf_conntrack_stat_early_drop"
    assert counter_metric("chaintoolong") == "ctdiag_nf_conntrack_stat_chaintoolong"
