"""The suite as users run it: ``pytest --lab`` end to end, ``--netns``, and usage errors.

Each run is a real ``python -m pytest`` in a subprocess from the project root, against the
real kernel; the lab must be gone afterwards whatever the outcome.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ctdiag.lab.lifecycle import exclusive_lab
from ctdiag.lab.netns import lab_namespaces
from tests.paths import ROOT
from tests.report.report_file import report_data
from tests.report.synthetic_run import valid_summary


def _assert_lab_gone() -> None:
    # Under the lab lock: another lab user (a parallel run) may own a lab of its own.
    with exclusive_lab():
        assert lab_namespaces() == [], "the lab was left behind"


def _pytest(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip


@pytest.mark.needs_root
def test_lab_run_writes_report_and_junit_and_leaves_nothing(tmp_path: Path) -> None:
    html, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    done = _pytest("--lab", "--sample-seconds", "1", f"--html={html}",
                   "--self-contained-html", f"--junitxml={junit}")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ctdiag] ctdlab-node1: collecting from conntrack-tools" in done.stdout
    assert "PASSED checks/test_capacity.py::test_table_occupancy[ctdlab-node1]" in done.stdout
    document = html.read_text()
    # The report opens on the verdict: the healthy lab passes (or only warns).
    front = document[document.index('<section class="ctdiag-verdict') :]
    assert re.search(r'l-(PASS|WARN)">(PASS|WARN)</span> 1 node checked: 1 (PASS|WARN)</h2>', front)
    assert '<a href="#ctdiag-node-1">ctdlab-node1</a>' in front
    assert document.index('id="ctdiag-verdict"') < document.index('id="environment"')
    results = {run["result"] for runs in report_data(document)["tests"].values() for run in runs}
    assert "Passed" in results and "Skipped" in results
    # JUnit: one group per node, the check as the name, each case rerunnable by its id.
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert {case.get("classname") for case in cases} == {"ctdlab-node1"}
    names = {case.get("name") for case in cases}
    assert {"test_table_occupancy", "test_tunables[nf_conntrack_tcp_loose]"} <= names
    ids = {p.get("value") for p in ET.parse(junit).iter("property")
           if p.get("name") == "ctdiag_test_id"}  # fmt: skip
    assert "checks/test_capacity.py::test_table_occupancy[ctdlab-node1]" in ids
    summary = valid_summary(tmp_path / "report.summary.json")
    assert summary["verdict"] in ("PASS", "WARN") and not (tmp_path / "summary.json").exists()
    assert summary["nodes"]["ctdlab-node1"]["checks"]["test_table_occupancy"]["level"] == "PASS"
    _assert_lab_gone()


@pytest.mark.needs_root
def test_lab_scenario_turns_occupancy_into_a_warning_and_strict_warn_fails_it() -> None:
    done = _pytest("--lab", "--lab-scenario", "table_pressure", "--sample-seconds", "0",
                   "--strict-warn", "-k", "occupancy")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "WARN: conntrack table 8" in done.stdout  # 80 % of nf_conntrack_max by default
    assert "threshold: warn at >= 0.75, fail at >= 0.9" in done.stdout
    assert "NodeHighNumberConntrackEntriesUsed" in done.stdout
    assert "remedy: raise net.netfilter.nf_conntrack_max" in done.stdout
    _assert_lab_gone()


@pytest.mark.needs_root
def test_lab_is_torn_down_when_the_run_is_terminated() -> None:
    with exclusive_lab():
        pass  # wait for other lab users, so the run below builds the lab at once
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lab",
         "--sample-seconds", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "sampling counters" in line:
                break
        proc.terminate()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    _assert_lab_gone()


def test_a_node_that_cannot_be_collected_is_one_error_and_its_other_checks_not_run() -> None:
    done = _pytest("--netns", "ctdtest-does-not-exist", "--sample-seconds", "0", "-rA")
    assert done.returncode == 1, done.stdout + done.stderr
    # One ERROR for the node (none passes, none FAILS); every other check of it is skipped
    # as not run because of it, with one shared reason (one -rs line with a count).
    assert " 1 error in " in done.stdout and " passed" not in done.stdout, done.stdout
    assert " failed" not in done.stdout
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1 and "no network namespace 'ctdtest-does-not-exist'" in errors[0]
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED [")]
    reason = "not run: node ctdtest-does-not-exist could not be collected"
    not_run = [line for line in skips if reason in line]
    assert len(not_run) == 1 and int(not_run[0].split("[")[1].split("]")[0]) >= 15, skips
    assert "Traceback" not in done.stdout


def test_no_node_selected_is_a_usage_error() -> None:
    done = _pytest()
    assert done.returncode == 4
    usage = "no node selected: use --lab, --node NAME, --all-nodes, --local or --netns NAME"
    assert usage in done.stderr


def test_bad_threshold_is_a_usage_error() -> None:
    done = _pytest("--local", "--occupancy-warn", "0.95")
    assert done.returncode == 4
    assert "need 0 < occupancy_warn (0.95) <= occupancy_fail (0.9)" in done.stderr


def test_help_lists_every_option_with_its_default_and_source() -> None:
    done = _pytest("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--lab", "--local", "--netns", "--sample-seconds", "--strict-warn",
                   "--occupancy-warn", "--invalid-rate-fail", "--redact"):  # fmt: skip
        assert option in done.stdout
    assert "NodeHighNumberConntrackEntriesUsed" in done.stdout
