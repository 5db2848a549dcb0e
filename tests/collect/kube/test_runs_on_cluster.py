"""The suite and the CLI as users run them against a cluster: real ``python -m pytest`` and
``python -m ctdiag`` subprocesses talking to the lab API server in this process. Every run
must leave no debug pod and no namespace of ours behind (interrupted runs:
``test_interrupts_on_cluster.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctdiag.lab.apiserver.server import LabApiServer
from tests.collect.kube.conftest import assert_nothing_left
from tests.collect.kube.running import ENV, Running, creates, pytest_argv
from tests.installed import InstalledCtdiag
from tests.paths import ROOT

pytestmark = pytest.mark.needs_root


def test_checks_run_per_node_and_a_not_ready_node_is_one_error_line(
    lab_api: LabApiServer,
) -> None:
    done = subprocess.run(
        pytest_argv(lab_api, "--node", "worker-a", "--node", "worker-down",
                    "--sample-seconds", "0"),
        cwd=ROOT, capture_output=True, text=True, timeout=180, env=ENV, check=False,
    )  # fmt: skip
    out = done.stdout
    assert "PASSED checks/test_capacity.py::test_table_occupancy[worker-a]" in out, out
    errors = [line for line in out.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1 and "[worker-down] - worker-down: node is not Ready" in errors[0], out
    assert "not run: node worker-down could not be collected" in out
    assert "collecting from conntrack-tools" in out and "(the host's, via chroot /host)" in out
    assert len(creates(lab_api)) == 1  # worker-down got no pod
    assert_nothing_left(lab_api)


def test_xdist_makes_exactly_one_pod_per_node_and_reports_every_node(
    lab_api: LabApiServer, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        pytest_argv(lab_api, "-n", "2", "--node", "worker-a", "--node", "worker-b",
                    "--sample-seconds", "0", f"--summary-json={summary}"),
        cwd=ROOT, capture_output=True, text=True, timeout=180, env=ENV, check=False,
    )  # fmt: skip
    assert "PASSED checks/test_capacity.py::test_table_occupancy[worker-b]" in done.stdout, (
        done.stdout + done.stderr
    )
    assert len(creates(lab_api)) == 2
    pod_paths = [d.path for d in lab_api.deletes() if "/pods/" in d.path]
    deleted = sorted(path.split("/pods/")[1][:15] for path in pod_paths)
    assert deleted == ["ctdiag-worker-a", "ctdiag-worker-b"]  # one each, both workers alike
    # The figures live on the workers; the controller's summary still has every node's.
    nodes = json.loads(summary.read_text())["nodes"]
    assert {name: node["status"] for name, node in nodes.items()} == {
        "worker-a": "collected", "worker-b": "collected"}
    assert nodes["worker-b"]["entry_source"] == "host-conntrack-cli"
    assert_nothing_left(lab_api)


def _ctdiag(api: LabApiServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctdiag", *args, f"--kubeconfig={api.kubeconfig}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=ENV, check=False,
    )  # fmt: skip


def test_conntrack_command_lists_filtered_flows_through_one_pod(lab_api: LabApiServer) -> None:
    done = _ctdiag(lab_api, "conntrack", "worker-a", "-p", "udp", "--dport", "9001")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(" udp " in line and " dport=9001 " in line for line in lines)
    as_json = _ctdiag(lab_api, "conntrack", "worker-a", "-p", "udp", "--json")
    ports = {json.loads(line)["orig"]["dport"] for line in as_json.stdout.splitlines()}
    assert {9000, 9001, 9002} <= ports
    assert len(creates(lab_api)) == 2  # one pod per call
    assert_nothing_left(lab_api)


def test_conntrack_command_rejects_a_shell_filter_before_any_pod(lab_api: LabApiServer) -> None:
    done = _ctdiag(lab_api, "conntrack", "worker-a", "--src", "1.2.3.4; reboot")
    assert done.returncode == 2
    assert done.stderr.startswith("ctdiag conntrack: ") and len(done.stderr.splitlines()) == 1
    assert not creates(lab_api)


def test_cleanup_removes_what_a_killed_run_left(lab_api: LabApiServer) -> None:
    run = Running(pytest_argv(lab_api, "--node", "worker-a", "--sample-seconds", "60"))
    try:
        run.wait_for("sampling counters", timeout=60)
    finally:
        run.kill()  # SIGKILL: no cleanup can run
    assert len(lab_api.pods()) == 1
    done = _ctdiag(lab_api, "cleanup")
    assert done.returncode == 0, done.stderr
    assert "deleted pod ctdiag-" in done.stdout and "deleted namespace ctdiag-" in done.stdout
    assert_nothing_left(lab_api)


def test_xdist_workers_judge_the_services_the_controller_listed_once(node_netns: str) -> None:
    from ctdiag.lab.apiserver.cluster import (
        LabApiEndpoint,
        LabApiNode,
        LabApiService,
        LabApiServicePort,
    )
    from ctdiag.lab.apiserver.server import serve_lab_api

    dns = LabApiService("kube-dns", "kube-system", "10.96.0.10",
                        ports=(LabApiServicePort("dns", 53, 53, protocol="UDP"),),
                        endpoints=(LabApiEndpoint("coredns-1", "10.244.1.21", 53),))  # fmt: skip
    nodes = [LabApiNode("worker-a", node_netns), LabApiNode("worker-b", node_netns)]
    with serve_lab_api(nodes, services=[dns]) as api:
        done = subprocess.run(
            pytest_argv(api, "-n", "2", "--node", "worker-a", "--node", "worker-b",
                        "--sample-seconds", "0", "-k", "stale_dnat"),
            cwd=ROOT, capture_output=True, text=True, timeout=180, env=ENV, check=False,
        )  # fmt: skip
        out = done.stdout
        for node in ("worker-a", "worker-b"):
            assert f"PASSED checks/test_services.py::test_stale_dnat[{node}-kube-system/kube-dns:53/udp]" in out, out  # noqa: E501
        listed = [p for m, p in api.requests() if m == "GET" and p.startswith("/api/v1/services")]
        assert len(listed) == 1  # by the controller; the workers got them from it
        assert_nothing_left(api)


def test_installed_package_checks_a_cluster_node_from_another_directory(
    lab_api: LabApiServer, installed_ctdiag: InstalledCtdiag
) -> None:
    done = installed_ctdiag.run("-m", "pytest", "--pyargs", "ctdiag.checks", "-rA",
                                "--kubeconfig", str(lab_api.kubeconfig), "--node", "worker-a",
                                "--sample-seconds", "0")  # fmt: skip
    assert "PASSED test_capacity.py::test_table_occupancy[worker-a]" in done.stdout, (
        done.stdout[-3000:] + done.stderr[-2000:]
    )
    assert " error" not in done.stdout.splitlines()[-1]
    assert len(creates(lab_api)) == 1
    assert_nothing_left(lab_api)
