"""``pytest --save-snapshot`` / ``--snapshot`` and ``ctdiag diff`` end to end, in subprocesses.

Saved runs checked offline must give the verdicts of the collecting run, judged with the
thresholds of the offline run; the diff of two real collections of a ``ctdtest-``
namespace must find exactly what was changed in between.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctdiag.collect.collector import collect_sample
from ctdiag.collect.runners import NetnsRunner
from ctdiag.collect.store.run_reader import read_run
from ctdiag.collect.store.run_writer import save_samples
from tests.paths import ROOT
from tests.synthetic_samples import make_sample

OCCUPANCY = "checks/test_capacity.py::test_table_occupancy"
_OUTCOME = re.compile(r"^(checks/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|WARN|XFAIL|XPASS)\b")
SETUP_TIMEOUT = 15.0
ESTABLISHED = "net.netfilter.nf_conntrack_tcp_timeout_established"


def _run(argv: list[str], *, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` from the project root; as uid ``user`` (and its gid) when given."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    prefix = [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}",
                                      "--clear-groups"]  # fmt: skip
    return subprocess.run(
        [*prefix, sys.executable, *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=240, env=env, check=False,
    )  # fmt: skip


def _pytest(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    return _run(["-m", "pytest", "-p", "no:cacheprovider", "-v", *args], user=user)


def outcomes(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Test id -> PASSED, WARN, FAILED, ERROR... from ``pytest -v`` output."""
    found = dict(m.groups() for m in map(_OUTCOME.match, done.stdout.splitlines()) if m)
    assert found, done.stdout + done.stderr
    return found


def test_saved_run_is_judged_offline_with_the_thresholds_of_the_offline_run(
    tmp_path: Path,
) -> None:
    save_samples(tmp_path / "run", [make_sample("worker-1", count=800, window_s=2)], window_s=2)
    given = f"--snapshot={tmp_path / 'run'}"
    default = _pytest(given, "-k", "test_table_occupancy")
    assert outcomes(default) == {f"{OCCUPANCY}[worker-1]": "WARN"}, default.stdout
    assert "[ctdiag] worker-1: loading the saved sample from" in default.stdout
    assert "conntrack table 80.0% full: 800 of 1,000 entries" in default.stdout
    relaxed = _pytest(given, "-k", "test_table_occupancy", "--occupancy-warn", "0.85")
    assert outcomes(relaxed) == {f"{OCCUPANCY}[worker-1]": "PASSED"}, relaxed.stdout
    strict = _pytest(given, "-k", "test_table_occupancy", "--occupancy-warn", "0.5",
                     "--occupancy-fail", "0.79")  # fmt: skip
    assert outcomes(strict) == {f"{OCCUPANCY}[worker-1]": "FAILED"}, strict.stdout
    assert strict.returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot={run}", "--local"], "--snapshot DIR checks the nodes saved in DIR: not with"),
        (["--snapshot={run}", "--netns", "x"], "not with --lab, --local, --netns or cluster nodes"),
        (["--snapshot={run}", "--save-snapshot={tmp}/new"], "not with --save-snapshot"),
        (["--snapshot={tmp}/absent"], "run {tmp}/absent: no such directory (no run.json or"),
        (["--snapshot={tmp}"], "run {tmp}: not a run or snapshot directory"),
        (["--local", "--save-snapshot={run}"], "run {run}: already exists and is not empty"),
    ],
    ids=["local", "netns", "save", "absent", "not-a-run", "save-over-a-run"],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    run = tmp_path / "run"
    save_samples(run, [make_sample()])
    done = _pytest(*(a.format(run=run, tmp=tmp_path) for a in args))
    assert done.returncode == 4, done.stdout + done.stderr
    assert message.format(run=run, tmp=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "new").exists()


def test_options_take_their_value_after_a_space_too(tmp_path: Path) -> None:
    """An existing DIR after ``--snapshot`` is the option's value, not a test path (the
    plugin's options are registered before pytest's early scan)."""
    save_samples(tmp_path / "run", [make_sample("worker-1", count=800)])
    spaced = _pytest("--snapshot", str(tmp_path / "run"), "-k", "test_table_occupancy")
    joined = _pytest(f"--snapshot={tmp_path / 'run'}", "-k", "test_table_occupancy")
    assert outcomes(spaced) == outcomes(joined) == {
        "checks/test_capacity.py::test_table_occupancy[worker-1]": "WARN"  # 80 % full
    }, spaced.stdout + spaced.stderr
    assert "configfile: tox.ini" in spaced.stdout  # the clone's, not none found beside DIR
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "ctdiag.checks", "--snapshot",
         str(tmp_path / "run"), "-k", "test_table_occupancy"],
        cwd=elsewhere, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and f"rootdir: {elsewhere}" in done.stdout, done.stdout
    assert not (tmp_path / "run" / ".pytest_cache").exists()  # nothing written into the run


def test_a_node_that_could_not_be_collected_is_the_same_error_offline(tmp_path: Path) -> None:
    missing = "ctdtest-does-not-exist"
    saving = _pytest("--netns", missing, "--sample-seconds", "0", f"--save-snapshot={tmp_path}/r")
    offline = _pytest(f"--snapshot={tmp_path}/r")
    assert offline.returncode == saving.returncode == 1
    # One ERROR for the node, its other checks not run because of it: offline as online.
    assert sorted(outcomes(offline).values()).count("ERROR") == 1
    assert set(outcomes(offline).values()) == {"ERROR", "SKIPPED"}
    assert outcomes(offline) == outcomes(saving)
    [node] = read_run(tmp_path / "r").nodes
    assert node.node == missing and node.error and f"no network namespace '{missing}'" in node.error
    assert f"no network namespace '{missing}'" in offline.stdout
    assert "collection failed when this run was saved" in offline.stdout


@pytest.fixture
def scratch_namespace() -> Iterator[str]:
    """A ``ctdtest-`` network namespace with ``lo`` up, deleted afterwards."""
    name = f"ctdtest-{os.getpid()}-snap"
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=15)
    try:
        _setup("ip", "netns", "add", name)
        _setup("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=15)
    assert not Path("/run/netns", name).exists()


def _setup(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}: {done.stderr}"
    return done.stdout


@pytest.mark.needs_root
def test_netns_run_saved_then_checked_offline_without_root(
    tmp_path: Path, scratch_namespace: str
) -> None:
    saved = Path(tempfile.mkdtemp(prefix="ctdtest-run-"))  # readable by an unprivileged user
    try:
        os.chmod(saved, 0o755)
        collected = _pytest("--netns", scratch_namespace, "--sample-seconds", "0.5",
                            f"--save-snapshot={saved}/run")  # fmt: skip
        assert f"[ctdiag] 1 node(s) saved in {saved}/run (pytest --snapshot=" in collected.stdout
        run = read_run(saved / "run")
        assert [(n.node, n.after is not None) for n in run.nodes] == [(scratch_namespace, True)]
        assert run.window_s == 0.5
        offline = _pytest(f"--snapshot={saved}/run", user=65534)  # nobody
        assert "Permission denied" not in offline.stdout + offline.stderr
        assert outcomes(offline) == outcomes(collected)
        assert offline.returncode == collected.returncode
    finally:
        shutil.rmtree(saved)


@pytest.mark.needs_root
def test_lab_run_saved_and_checked_offline_gives_the_same_verdicts(tmp_path: Path) -> None:
    saved = tmp_path / "lab-run"
    collected = _pytest("--lab", "--lab-scenario", "table_pressure", "--sample-seconds", "1",
                        f"--save-snapshot={saved}")  # fmt: skip
    verdicts = outcomes(collected)
    assert verdicts[f"{OCCUPANCY}[ctdlab-node1]"] == "WARN", collected.stdout
    offline = _pytest(f"--snapshot={saved}")
    assert "collecting from" not in offline.stdout
    assert outcomes(offline) == verdicts
    assert offline.returncode == collected.returncode
    relaxed = _pytest(f"--snapshot={saved}", "--occupancy-warn", "0.85")
    assert outcomes(relaxed) == {**verdicts, f"{OCCUPANCY}[ctdlab-node1]": "PASSED"}


def _collect(namespace: str, directory: Path) -> None:
    save_samples(directory, [collect_sample(NetnsRunner(namespace), window_s=0)])


@pytest.mark.needs_root
def test_diff_of_two_real_collections_finds_exactly_what_changed(
    tmp_path: Path, scratch_namespace: str
) -> None:
    ns = scratch_namespace
    _setup("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "7",
           "-j", "ACCEPT")  # fmt: skip
    _collect(ns, tmp_path / "before")
    _setup("ip", "netns", "exec", ns, "sysctl", "-w", f"{ESTABLISHED}=7200")
    _setup("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9",
           "-j", "DROP")  # fmt: skip
    _collect(ns, tmp_path / "after")
    before, after = str(tmp_path / "before"), str(tmp_path / "after")
    same = _run(["-m", "ctdiag", "diff", before, before])
    assert same.returncode == 0, same.stdout + same.stderr
    done = _run(["-m", "ctdiag", "diff", "--json", before, after])
    assert done.returncode == 1, done.stdout + done.stderr
    [node] = json.loads(done.stdout)["nodes"]
    [tunable] = node["tunables"]
    assert (tunable["name"], tunable["after"]) == (ESTABLISHED, "7200")
    assert tunable["before"] != "7200"
    rules = {change["output"]: change for change in node["rules"]}
    assert rules.pop("rules_filter") == {
        "output": "rules_filter",
        "added": ["-A INPUT -p tcp -m tcp --dport 9 -j DROP"],
        "removed": [],
    }
    nft = rules.pop("nft_ruleset", None)  # iptables-nft shows the rule in the ruleset too
    if nft is not None:
        assert nft["removed"] == [] and len(nft["added"]) == 1
        assert nft["added"][0].startswith("table ip filter / chain INPUT: ")
        assert "dport 9" in nft["added"][0] and nft["added"][0].endswith("drop")
    assert rules == {}
    assert (node["kernel"], node["conntrack_version"], node["reboot"]) == (None, None, None)
    assert node["counters"] == []
    expected = [f"{ESTABLISHED} changed", "rules_filter changed"]
    assert node["differences"] == expected + (["nft_ruleset changed"] if nft else [])
    text = _run(["-m", "ctdiag", "diff", before, after])
    assert f"    ~ {ESTABLISHED}: {tunable['before']} -> 7200" in text.stdout
    assert "    + -A INPUT -p tcp -m tcp --dport 9 -j DROP" in text.stdout


def test_an_output_that_failed_on_the_node_is_an_error_of_the_checks_reading_it(
    tmp_path: Path,
) -> None:
    sample = make_sample("worker-1", window_s=2)
    failed = [
        dataclasses.replace(o, exit_status=1, stdout=b"", stderr=b"sysctl: permission denied\n")
        if o.name == "sysctl" else o
        for o in sample.before.outputs
    ]  # fmt: skip
    broken = dataclasses.replace(sample, before=dataclasses.replace(sample.before, outputs=failed))
    save_samples(tmp_path / "run", [broken], window_s=2)
    done = _pytest(f"--snapshot={tmp_path / 'run'}")
    found = outcomes(done)
    readers = {k for k in found if "::test_tunables[" in k or "test_table_occupancy" in k}
    assert readers and {k: found[k] for k in readers} == dict.fromkeys(readers, "ERROR")
    assert found["checks/test_flows.py::test_unreplied[worker-1]"] == "PASSED"
    line = "CollectionError: worker-1: sysctl exited 1: sysctl: permission denied [sysctl -e"
    assert line in done.stdout
    assert "Traceback" not in done.stdout
