"""pods/exec through ``kubernetes.stream``: real processes in a scratch network namespace.

The namespace holds a veth pair and a conntrack entry set up from outside, so that what
comes back over the WebSocket can only be that namespace's kernel state.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from tests.collect.scratch_netns import ScratchNamespaces
from tests.lab.apiserver.conftest import NODE, lab_nodes
from tests.lab.apiserver.kube_objects import (
    MINIMAL,
    NETSHOOT,
    debug_pod,
    exec_frames,
    running,
    started_pod,
    wait_for,
)

pytestmark = pytest.mark.needs_root

LINK = "ctdapi0"
FLOW = ("-p", "tcp", "-s", "10.9.8.7", "-d", "10.6.5.4", "--sport", "40000", "--dport", "443")


@pytest.fixture(scope="module")
def scratch_netns() -> Iterator[str]:
    ScratchNamespaces.sweep_abandoned()
    spaces = ScratchNamespaces()
    try:
        name = spaces.create("apiserver")
        spaces.exec(name, "ip", "link", "add", LINK, "type", "veth", "peer", "name", "ctdapi1")
        spaces.exec(name, "conntrack", "-I", *FLOW, "--state", "ESTABLISHED", "-t", "300",
                    "-u", "ASSURED")
        yield name
    finally:
        spaces.delete_all()


@pytest.fixture
def api_netns(scratch_netns: str) -> str:
    return scratch_netns


def test_exec_runs_in_the_node_namespace(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    pod = started_pod(core, NODE)
    result = exec_frames(core, pod, ["ip", "-o", "link", "show"])
    assert result.status == {"metadata": {}, "status": "Success"} and result.closed
    assert f": {LINK}@" in result.stdout.decode()
    assert LINK not in os.popen("ip -o link show").read()  # not the host's namespace
    assert lab_api.exec_log() == [("default", pod, ("ip", "-o", "link", "show"))]


def test_exec_sees_real_conntrack_state(core: client.CoreV1Api) -> None:
    pod = started_pod(core, NODE, image=NETSHOOT)
    result = exec_frames(core, pod, ["conntrack", "-L", *FLOW])
    assert result.exit_code == 0, result.stderr
    line = result.stdout.decode()
    assert "src=10.9.8.7 dst=10.6.5.4 sport=40000 dport=443" in line
    assert "ESTABLISHED" in line and "[ASSURED]" in line


def test_exit_status_and_stderr_through_the_client(core: client.CoreV1Api) -> None:
    pod = started_pod(core, NODE)
    response = stream(
        core.connect_get_namespaced_pod_exec, pod, "default",
        command=["sh", "-c", "echo out; echo err >&2; exit 3"],
        stdout=True, stderr=True, stdin=False, tty=False,
        _preload_content=False, binary=True,
    )
    response.run_forever(timeout=10)
    assert response.read_channel(1) == b"out\n"
    assert response.read_channel(2) == b"err\n"
    assert response.returncode == 3
    status = json.loads(exec_frames(core, pod, ["sh", "-c", "exit 3"]).status_text)
    assert status["reason"] == "NonZeroExitCode"
    assert status["message"] == (
        "command terminated with non-zero exit code: error executing command "
        "[sh -c exit 3], exit code 3"
    )
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_environment_is_c_and_utc(core: client.CoreV1Api) -> None:
    pod = started_pod(core, NODE)
    result = exec_frames(core, pod, ["sh", "-c", 'echo "$LC_ALL $TZ"'])
    assert result.stdout == b"C UTC\n"


def test_program_missing_from_the_image(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    pod = started_pod(core, NODE)  # support-tools: no conntrack
    result = exec_frames(core, pod, ["conntrack", "-L"])
    assert result.stdout == b"" and result.stderr == b""
    assert result.status is not None and result.status["reason"] == "InternalError"
    assert result.status["message"] == (
        'OCI runtime exec failed: exec failed: unable to start container process: exec: '
        '"conntrack": executable file not found in $PATH: unknown'
    )
    shell = exec_frames(core, pod, ["sh", "-c", "command -v conntrack || echo absent"])
    assert shell.stdout == b"absent\n"  # a script does not find it either
    minimal = started_pod(core, NODE, image=MINIMAL)
    assert exec_frames(core, minimal, ["gzip", "-c"]).status["reason"] == "InternalError"


def test_chroot_host_emulation(core: client.CoreV1Api) -> None:
    pod = started_pod(core, NODE)
    listed = exec_frames(core, pod, ["chroot", "/host", "conntrack", "-L", *FLOW])
    assert listed.exit_code == 0 and b"dport=443" in listed.stdout
    missing = exec_frames(core, pod, ["chroot", "/host", "nft", "list", "ruleset"])
    assert missing.stderr == b"chroot: failed to run command 'nft': No such file or directory\n"
    assert missing.exit_code == 127


def test_exec_into_pods_that_cannot_run_it(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    def refused(pod: str) -> str:
        with pytest.raises(ApiException) as caught:
            stream(core.connect_get_namespaced_pod_exec, pod, "default", command=["true"],
                   stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
        return str(caught.value.reason)  # the client reports status 0, the code in the text

    assert "404" in refused("absent") and 'pods \\"absent\\" not found' in refused("absent")
    lab_api.faults.pods_never_start = True
    pending = core.create_namespaced_pod("default", debug_pod(NODE)).metadata.name
    reason = refused(pending)
    assert "400" in reason and "container not found" in reason
    lab_api.faults.pods_never_start = False
    ready = started_pod(core, NODE)
    lab_api.faults.forbidden.add(("create", "pods/exec"))
    reason = refused(ready)
    assert "403" in reason and 'cannot create resource \\"pods/exec\\"' in reason
    assert lab_api.exec_log() == []


def test_dropped_connection_has_no_status(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    pod = started_pod(core, NODE)
    lab_api.faults.exec_drop_after_bytes = 100_000
    result = exec_frames(core, pod, ["head", "-c", "5000000", "/dev/zero"])
    assert result.status is None and not result.closed, result
    assert len(result.stdout) == 100_000


def test_large_stdout_arrives_intact_and_fast(core: client.CoreV1Api) -> None:
    pod = started_pod(core, NODE)
    expected = "".join(f"{n}\n" for n in range(1, 600_001)).encode()  # ~4.5 MB
    started = time.monotonic()
    result = exec_frames(core, pod, ["seq", "1", "600000"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(expected).digest()
    zeros = exec_frames(core, pod, ["head", "-c", str(32 << 20), "/dev/zero"])
    assert len(zeros.stdout) == 32 << 20 and zeros.stdout.count(0) == 32 << 20
    assert elapsed < 5, f"{len(expected)} bytes took {elapsed:.2f} s"


def test_stdin_and_client_disconnect(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    pod = started_pod(core, NODE)
    piped = stream(
        core.connect_get_namespaced_pod_exec, pod, "default", command=["cat"],
        stdout=True, stderr=True, stdin=True, tty=False, _preload_content=False, binary=True,
    )
    piped.write_stdin(b"hello\n")
    piped.close_channel(0)
    piped.run_forever(timeout=10)
    assert piped.read_channel(1) == b"hello\n" and piped.returncode == 0
    sleeper = stream(
        core.connect_get_namespaced_pod_exec, pod, "default",
        command=["sh", "-c", "echo $$; exec sleep 30"],
        stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False, binary=True,
    )
    pid = int(sleeper.readline_channel(1, timeout=10))
    assert os.path.exists(f"/proc/{pid}")
    sleeper.close()
    end = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}"), "the exec outlived its client"


def test_server_exit_kills_running_execs(api_netns: str) -> None:
    with serve_lab_api(lab_nodes(api_netns)) as server:
        api = kube_config.new_client_from_config(config_file=str(server.kubeconfig))
        try:
            core = client.CoreV1Api(api)
            pod = started_pod(core, NODE)
            sleeper = stream(
                core.connect_get_namespaced_pod_exec, pod, "default",
                command=["sh", "-c", "echo $$; exec sleep 30"],
                stdout=True, stderr=True, stdin=False, tty=False,
                _preload_content=False, binary=True,
            )
            pid = int(sleeper.readline_channel(1, timeout=10))
        finally:
            api.close()
    try:
        assert not os.path.exists(f"/proc/{pid}"), "an exec outlived the server"
    finally:
        sleeper.close()


def test_deadline_kills_running_execs(core: client.CoreV1Api) -> None:
    pod = core.create_namespaced_pod("default", debug_pod(NODE, deadline=1)).metadata.name
    wait_for(core, "default", pod, running)
    result = exec_frames(core, pod, ["sleep", "30"])
    assert result.exit_code == 137
    with pytest.raises(ApiException) as caught:
        stream(core.connect_get_namespaced_pod_exec, pod, "default", command=["true"],
               stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    assert "cannot exec into a container in a completed pod; current phase is Failed" in str(
        caught.value.reason
    )
