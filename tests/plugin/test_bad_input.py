"""Bad input a user hits daily is one line and exit status 4 (pytest's usage error): no
traceback, no INTERNALERROR, no "During handling of the above exception", no pod, no
namespace (nothing is reached)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = ("Traceback", "INTERNALERROR", "During handling", "Error:\n")


def _pytest(cwd: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}  # fmt: skip
    env["HOME"] = str(home)  # no ~/.kube/config
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "ctdiag.checks", "-p", "no:cacheprovider",
         *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "content", "line"),
    [
        (("--node", "worker-1"), None,
         "no kubeconfig found: KUBECONFIG, --kubeconfig, ~/.kube/config, in-cluster"),
        (("--node", "worker-1", "--kubeconfig", "{tmp}/absent"), None,
         "--kubeconfig {tmp}/absent: no such file"),
        (("--node", "worker-1", "--kubeconfig", "{tmp}/kubeconfig"), "clusters: [",
         "cannot load cluster credentials from {tmp}/kubeconfig: while parsing"),
        (("--node", "worker-1", "--kubeconfig", "{tmp}/kubeconfig"), "apiVersion: v1\n",
         "cannot load cluster credentials from {tmp}/kubeconfig: Invalid kube-config file"),
        (("--node", "Worker_1"), None, "--node: 'Worker_1' is not a node name"),
        (("--node", "worker-1\nrm -rf /"), None, "--node: 'worker-1\\nrm -rf /' is not a node"),
        (("--netns", "a/b"), None, "--netns 'a/b': not a network namespace name"),
        (("--lab-scenario", "stale_udp"), None, "--lab-scenario needs --lab"),
        (("--local", "--occupancy-warn", "2"), None, "occupancy_warn"),
    ],
    ids=["no-kubeconfig", "absent-kubeconfig", "not-yaml", "not-a-kubeconfig",
         "invalid-node-name", "node-name-with-newline", "netns-with-slash", "scenario-alone",
         "bad-threshold"],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_status_4(
    tmp_path: Path, args: tuple[str, ...], content: str | None, line: str
) -> None:
    if content is not None:
        (tmp_path / "kubeconfig").write_text(content)
    done = _pytest(tmp_path, *(a.format(tmp=tmp_path) for a in args), home=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    errors = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: "), done.stderr
    assert line.format(tmp=tmp_path) in errors[0]
    assert not any(mark in done.stdout + done.stderr for mark in BROKEN)
