"""Pods and exec calls the lab API server tests share, all through the official client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.stream import stream
from websocket import ABNF

SUPPORT_TOOLS = "registry.redhat.io/rhel9/support-tools:latest"
NETSHOOT = "nicolaka/netshoot:v0.13"
MINIMAL = "ctdiag.lab/minimal"


def debug_pod(
    node: str,
    *,
    name: str = "",
    image: str = SUPPORT_TOOLS,
    deadline: int | None = None,
    labels: dict[str, str] | None = None,
) -> client.V1Pod:
    """A privileged host pod like ``kubectl debug node`` makes."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name or None,
            generate_name=None if name else f"node-debugger-{node}-",
            labels=labels or {"app.kubernetes.io/managed-by": "ctdiag"},
        ),
        spec=client.V1PodSpec(
            node_name=node,
            host_network=True,
            host_pid=True,
            restart_policy="Never",
            active_deadline_seconds=deadline,
            tolerations=[client.V1Toleration(operator="Exists")],
            containers=[
                client.V1Container(
                    name="debugger",
                    image=image,
                    command=["sleep", "infinity"],
                    security_context=client.V1SecurityContext(privileged=True),
                    volume_mounts=[client.V1VolumeMount(name="host-root", mount_path="/host")],
                )
            ],
            volumes=[
                client.V1Volume(
                    name="host-root", host_path=client.V1HostPathVolumeSource(path="/")
                )
            ],
        ),
    )


def wait_for(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    ready: Callable[[client.V1Pod], bool],
    timeout: float = 5.0,
) -> client.V1Pod:
    """Poll the pod until ``ready`` holds; fail with its last state otherwise."""
    end = time.monotonic() + timeout
    while True:
        pod = core.read_namespaced_pod(name, namespace)
        if ready(pod):
            return pod
        if time.monotonic() > end:
            raise AssertionError(f"pod {name} never got there: {pod.status}")
        time.sleep(0.02)


def running(pod: client.V1Pod) -> bool:
    return bool(pod.status.phase == "Running")


def started_pod(core: client.CoreV1Api, node: str, image: str = SUPPORT_TOOLS) -> str:
    """Create a debug pod in ``default`` and wait until it runs; its name."""
    pod = core.create_namespaced_pod("default", debug_pod(node, image=image))
    wait_for(core, "default", pod.metadata.name, running)
    return str(pod.metadata.name)


@dataclass
class ExecResult:
    """What an exec stream carried, frame by frame."""

    stdout: bytes
    stderr: bytes
    status: dict[str, Any] | None
    frames: int
    closed: bool
    error: str = ""

    @property
    def status_text(self) -> str:
        return json.dumps(self.status)

    @property
    def exit_code(self) -> int | None:
        if self.status is None:
            return None
        if self.status["status"] == "Success":
            return 0
        causes = self.status.get("details", {}).get("causes", [])
        exit_causes = [c for c in causes if c.get("reason") == "ExitCode"]
        return int(exit_causes[0]["message"]) if exit_causes else None


def exec_frames(
    core: client.CoreV1Api, pod: str, argv: Sequence[str], namespace: str = "default"
) -> ExecResult:
    """Exec ``argv`` and read frames straight off the socket until close or disconnect."""
    ws = stream(
        core.connect_get_namespaced_pod_exec, pod, namespace, command=list(argv),
        stdout=True, stderr=True, stdin=False, tty=False,
        _preload_content=False, binary=True, _request_timeout=30,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    status = None
    frames = 0
    try:
        while True:
            opcode, frame = ws.sock.recv_data_frame(True)
            if opcode == ABNF.OPCODE_CLOSE:
                return ExecResult(b"".join(out), b"".join(err), status, frames, closed=True)
            data = frame.data
            frames += 1
            if data[:1] == b"\x01":
                out.append(data[1:])
            elif data[:1] == b"\x02":
                err.append(data[1:])
            elif data[:1] == b"\x03":
                status = json.loads(data[1:])
    except Exception as error:  # a dropped connection: what the caller must detect
        return ExecResult(
            b"".join(out), b"".join(err), status, frames, closed=False, error=repr(error)
        )
    finally:
        ws.close()
