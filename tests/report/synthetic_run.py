"""A real inner pytest run (pytester) of the report plugin against synthetic nodes: its
conftest puts prepared node states (and failures) into the node registry, so no root or
network namespace is needed. Shared by the plugin and screenshot tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ctdiag.report.summary_json import SCHEMA_FILE
from tests.paths import ROOT
from tests.report.samples import ATTRIBUTE, SCRIPT

PLUGINS = ("-p", "ctdiag.plugin.cluster", "-p", "ctdiag.plugin.nodes",
           "-p", "ctdiag.plugin.verdicts", "-p", "ctdiag.plugin.report")  # fmt: skip
#: Per collected node: test_hostile fails, test_warned warns, test_skipped skips, the two
#: capacity checks pass; on the node that could not be collected, the first of the five
#: checks that need its state is the error and the other four are not run.
OUTCOMES = {"failed": 1, "passed": 2, "warned": 1, "skipped": 5, "errors": 1}
CONFTEST = """
import pytest
from ctdiag.collect.node_targets import NodeTarget, TargetKind
from ctdiag.plugin.nodes import REGISTRY
from tests.report import samples

COLLECTED = {collected}
FAILED = {failed}


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    registry = config.stash[REGISTRY]
    for name in [*COLLECTED, *FAILED]:
        registry.targets[name] = NodeTarget(name, TargetKind.NETNS, name)
    for name, make in COLLECTED.items():
        registry.states[name] = make(name)
    registry.failures.update(FAILED)
"""
REMEDY = "raise nf_conntrack_max to 524288"
TRADE_OFF = "about 300 bytes of kernel memory per entry"
CHECKS = f"""
import pytest
from ctdiag.model.verdict import Level, Remedy, Verdict

SCRIPT, ATTRIBUTE = {SCRIPT!r}, {ATTRIBUTE!r}


def test_hostile(node_state, judge):
    judge(Verdict(Level.FAIL, f"finding {{SCRIPT}} {{node_state.summary.top_sources[0].key}}",
                  threshold=ATTRIBUTE, source=SCRIPT, remedy=Remedy(SCRIPT, ATTRIBUTE),
                  evidence=(SCRIPT, ATTRIBUTE, "dst=10.96.0.53"), evidence_total=9,
                  figures=((SCRIPT, 1.0),)))


def test_warned(node_state, judge):
    print(SCRIPT, ATTRIBUTE)
    judge(Verdict(Level.WARN, f"warned {{ATTRIBUTE}}", threshold="warn at 3",
                  remedy=Remedy({REMEDY!r}, {TRADE_OFF!r}), evidence=("entry one",)))


def test_skipped(node_state):
    pytest.skip("nothing to judge on this node")
"""


def run_report(
    pytester: pytest.Pytester, collected: str, failed: str, *args: str
) -> pytest.RunResult:
    """Run the synthetic checks and the shipped capacity checks with ``--html=out/report.html``
    and ``--junitxml=out/junit.xml``.

    Args:
        pytester: the fixture.
        collected: a Python dict literal, node name -> function making its state.
        failed: a Python dict literal, node name -> its error line.
        *args: more pytest arguments.
    """
    pytester.makeconftest(CONFTEST.format(collected=collected, failed=failed))
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makepyfile(test_capacity=(ROOT / "checks" / "test_capacity.py").read_text())
    return pytester.runpytest(*PLUGINS, "-p", "no:cacheprovider", "--sample-seconds", "0",
                              "--html=out/report.html", "--self-contained-html",
                              "--junitxml=out/junit.xml", *args)  # fmt: skip


#: The closing line of a run with OUTCOMES.
OUTCOMES_LINE = "1 failed, 2 passed, 5 skipped, 1 error, 1 warned"
#: Ceiling of one inner run in a subprocess (a hang guard, not a speed goal).
RUN_TIMEOUT = 300


def run_report_in(
    directory: Path, collected: str, failed: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """As :func:`run_report`, in a ``python -m pytest`` subprocess in ``directory`` (for
    module-scoped fixtures, which cannot use ``pytester``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "conftest.py").write_text(CONFTEST.format(collected=collected, failed=failed))
    (directory / "test_checks.py").write_text(CHECKS)
    (directory / "test_capacity.py").write_text((ROOT / "checks" / "test_capacity.py").read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *PLUGINS, "-p", "no:cacheprovider", "--sample-seconds",
         "0", "--html=out/report.html", "--self-contained-html", "--junitxml=out/junit.xml",
         "--rootdir", str(directory), *args],
        cwd=directory, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, check=False,
    )  # fmt: skip


def valid_summary(path: Path) -> dict[str, Any]:
    """The summary.json at ``path``, validated against the shipped JSON Schema."""
    document: dict[str, Any] = json.loads(path.read_text())
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    return document
