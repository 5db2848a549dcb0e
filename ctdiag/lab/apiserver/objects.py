"""API objects as the Kubernetes API server serialises them (JSON dicts, camelCase).

Every builder fills each field the official client's models require, so that ``V1Node``,
``V1Pod``... deserialize without complaint.
"""

from __future__ import annotations

import os
import platform
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctdiag.lab.apiserver.cluster import LabApiNode, LabApiPod

Obj = dict[str, Any]

KUBE_VERSION = "v1.31.0-ctdiag-lab"
RUNTIME_VERSION = "cri-o://1.31.0-lab"
#: Characters of generated name suffixes (the API server's: no vowels, no 0/1/3).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """The current time as the API writes it (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    """A fresh object UID."""
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    """``generateName`` resolved: the prefix and five random characters."""
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def container_id() -> str:
    """A CRI-O container ID."""
    return "cri-o://" + secrets.token_hex(32)


def _read(path: str, default: str) -> str:
    try:
        return Path(path).read_text().strip() or default
    except OSError:
        return default


def _os_image() -> str:
    for line in _read("/etc/os-release", "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def _architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _memory_ki() -> str:
    for line in _read("/proc/meminfo", "").splitlines():
        if line.startswith("MemTotal:"):
            return line.split()[1] + "Ki"
    return "0Ki"


def node_ready_condition(ready: bool) -> Obj:
    """The Ready condition a kubelet posts (KubeletReady or KubeletNotReady)."""
    heartbeat = now()
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": "kubelet is posting ready status"
        if ready
        else "container runtime network not ready: NetworkReady=false",
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": heartbeat,
    }


def node_object(node: LabApiNode) -> Obj:
    """A v1 Node for ``node`` with Ready reflecting ``node.ready``."""
    resources = {"cpu": str(os.cpu_count() or 1), "memory": _memory_ki(), "pods": "110"}
    cidrs = list(node.pod_cidrs)
    spec = {"podCIDR": cidrs[0], "podCIDRs": cidrs} if cidrs else {}
    heartbeat = now()
    pressure = [
        {
            "type": kind,
            "status": "False",
            "reason": f"KubeletHas{reason}",
            "message": f"kubelet has {reason.lower()}",
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": heartbeat,
        }
        for kind, reason in (
            ("MemoryPressure", "SufficientMemory"),
            ("DiskPressure", "NoDiskPressure"),
            ("PIDPressure", "SufficientPID"),
        )
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, node.name)),
            "labels": node.all_labels(),
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [*pressure, node_ready_condition(node.ready)],
            "addresses": [
                {"type": "InternalIP", "address": node.ip},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id", "0" * 32),
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, node.name)),
                "bootID": _read("/proc/sys/kernel/random/boot_id", new_uid()),
                "kernelVersion": os.uname().release,
                "osImage": _os_image(),
                "containerRuntimeVersion": RUNTIME_VERSION,
                "kubeletVersion": KUBE_VERSION,
                "kubeProxyVersion": KUBE_VERSION,
                "operatingSystem": "linux",
                "architecture": _architecture(),
            },
        },
    }


def workload_pod_object(pod: LabApiPod, host_ip: str) -> Obj:
    """A v1 Pod as a kubelet reports a running workload: scheduled, started, with its IP."""
    started = now()
    ip = host_ip if pod.host_network else pod.ip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": {"app": pod.name}},
        "spec": {
            "nodeName": pod.node,
            "hostNetwork": pod.host_network,
            "containers": [{"name": pod.name, "image": "docker.io/nicolaka/netshoot"}],
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        },
        "status": {
            "phase": pod.phase,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": started,
            "qosClass": "BestEffort",
        },
    }


def namespace_object(name: str, labels: dict[str, str], annotations: dict[str, str]) -> Obj:
    """A new Active v1 Namespace (metadata filled in by the store)."""
    metadata: Obj = {"name": name, "labels": {**labels, "kubernetes.io/metadata.name": name}}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def version_info() -> Obj:
    """``GET /version``."""
    return {
        "major": "1",
        "minor": "31",
        "gitVersion": KUBE_VERSION,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": f"linux/{_architecture()}",
    }
