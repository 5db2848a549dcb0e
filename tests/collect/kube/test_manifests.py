"""The objects ctdiag creates, and how pod states are judged: pure, no cluster."""

from __future__ import annotations

import re
import subprocess
from types import SimpleNamespace as NS

import pytest

from ctdiag.collect.kube.manifests import (
    MANAGED_BY_LABEL,
    NAMESPACE_LABELS,
    RUN_LABEL,
    DebugPodSpec,
    debug_pod_manifest,
    debug_pod_name,
    label_value,
    managed_selector,
    namespace_manifest,
    new_run_id,
)
from ctdiag.collect.kube.pod_runner import GZIP_SCRIPT
from ctdiag.collect.kube.pods import pod_verdict

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def test_debug_pod_matches_oc_debug_node_and_adds_deadline_and_labels() -> None:
    spec = DebugPodSpec("worker-0.example.com", "ctdiag-x", "img:1", "abcd1234", 600)
    pod = debug_pod_manifest(spec)
    body = pod["spec"]
    assert body["nodeName"] == "worker-0.example.com"
    assert body["hostNetwork"] and body["hostPID"] and body["hostIPC"]
    assert body["restartPolicy"] == "Never"
    assert body["tolerations"] == [{"operator": "Exists"}]
    assert body["activeDeadlineSeconds"] == 600
    container = body["containers"][0]
    assert container["securityContext"] == {"privileged": True, "runAsUser": 0}
    assert container["volumeMounts"] == [{"name": "host", "mountPath": "/host"}]
    assert body["volumes"][0]["hostPath"] == {"path": "/", "type": "Directory"}
    labels = pod["metadata"]["labels"]
    assert labels[MANAGED_BY_LABEL] == "ctdiag"
    assert labels[RUN_LABEL] == "abcd1234"
    assert pod["metadata"]["annotations"]["openshift.io/required-scc"] == "privileged"


@pytest.mark.parametrize(
    "node_name",
    ["ovn-worker", "ip-10-0-1-2.eu-west-1.compute.internal", "N" * 200, "a.b", "x" * 63],
)
def test_pod_names_are_dns_labels_and_unique_per_node(node_name: str) -> None:
    run = new_run_id()
    name = debug_pod_name(node_name, run)
    assert DNS_LABEL.match(name), name
    assert name.endswith(run)
    assert debug_pod_name(node_name + "x", run) != name


def test_label_values_are_valid() -> None:
    assert label_value("Worker_1.Example.COM") == "worker-1.example.com"
    assert len(label_value("a" * 100)) == 63
    assert label_value("---") == "x"


def test_temporary_namespace_allows_privileged_pods_like_oc_debug() -> None:
    ns = namespace_manifest("r1")
    assert ns["metadata"]["name"] == "ctdiag-r1"
    for key, value in NAMESPACE_LABELS.items():
        assert ns["metadata"]["labels"][key] == value
    assert ns["metadata"]["annotations"] == {"openshift.io/node-selector": ""}
    assert managed_selector("r1") == f"{MANAGED_BY_LABEL}=ctdiag,{RUN_LABEL}=r1"


def _pod(phase: str, *, waiting: str | None = None, running: bool = False) -> NS:
    state = NS(
        waiting=NS(reason=waiting, message="boom") if waiting else None,
        running=NS() if running else None,
        terminated=None,
    )
    container = NS(name="debug", image="img", state=state)
    return NS(status=NS(phase=phase, reason=None, message=None, container_statuses=[container],
                        conditions=[]))


@pytest.mark.parametrize(
    ("pod", "running", "error"),
    [
        (_pod("Running", running=True), True, ""),
        (_pod("Pending"), False, ""),
        (_pod("Pending", waiting="ContainerCreating"), False, ""),
        (_pod("Pending", waiting="ImagePullBackOff"), False, "image img: ImagePullBackOff: boom"),
        (_pod("Pending", waiting="ErrImagePull"), False, "image img: ErrImagePull: boom"),
        (_pod("Failed"), False, "pod failed before use: no reason given"),
    ],
)
def test_pod_verdicts_fail_fast_on_what_never_heals(pod: NS, running: bool, error: str) -> None:
    verdict = pod_verdict(pod)
    assert verdict.running is running
    assert verdict.error == error


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_gzip_script_keeps_the_commands_exit_status_and_stderr(shell: str) -> None:
    inner = ["sh", "-c", "printf 'a b\\n'; echo oops >&2; exit 3"]
    done = subprocess.run([shell, "-c", GZIP_SCRIPT, "sh", *inner], capture_output=True,
                          check=False, timeout=10)
    assert done.returncode == 3
    assert done.stderr == b"oops\n"
    assert subprocess.run(["gunzip", "-c"], input=done.stdout, capture_output=True,
                          check=True).stdout == b"a b\n"
    missing = subprocess.run([shell, "-c", GZIP_SCRIPT, "sh", "no-such-program-xyz"],
                             capture_output=True, check=False, timeout=10)
    assert missing.returncode == 127
    assert missing.stdout == b""


def test_gzip_script_passes_arguments_without_a_shell_reading_them() -> None:
    hostile = "$(touch /tmp/ctdiag-pwned); `id`; rm -rf /nonexistent"
    done = subprocess.run(["dash", "-c", GZIP_SCRIPT, "sh", "printf", "%s", hostile],
                          capture_output=True, check=True, timeout=10)
    out = subprocess.run(["gunzip", "-c"], input=done.stdout, capture_output=True, check=True)
    assert out.stdout.decode() == hostile
