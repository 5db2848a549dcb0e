"""API objects as the Kubernetes API server serialises them (JSON dicts, camelCase).

Every builder fills each field the official client's models require, so that ``V1Node``,
``V1Pod``... deserialize without complaint.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ctdiag.lab.apiserver.cluster import LabApiNode, LabApiService, LabApiServicePort

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
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
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


def service_object(svc: LabApiService) -> Obj:
    """A v1 ClusterIP or NodePort Service."""
    ports = []
    for port in svc.ports:
        entry: Obj = {
            "name": port.name,
            "port": port.port,
            "protocol": port.protocol,
            "targetPort": port.target_port,
        }
        if port.node_port is not None:
            entry["nodePort"] = port.node_port
        ports.append(entry)
    node_port = any(p.node_port is not None for p in svc.ports)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.name, "namespace": svc.namespace, "labels": {"app": svc.name}},
        "spec": {
            "type": "NodePort" if node_port else "ClusterIP",
            "clusterIP": svc.cluster_ip,
            "clusterIPs": [svc.cluster_ip],
            "ipFamilies": ["IPv6" if ":" in svc.cluster_ip else "IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "selector": {"app": svc.name},
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            **({"externalTrafficPolicy": "Cluster"} if node_port else {}),
        },
        "status": {"loadBalancer": {}},
    }


def endpoint_slice_objects(svc: LabApiService, node_of: dict[str, str]) -> list[Obj]:
    """discovery.k8s.io/v1 EndpointSlices: one per distinct endpoint port.

    Args:
        svc: the Service.
        node_of: pod name -> node name, for ``nodeName`` (absent when unknown).
    """
    slices = []
    for port in sorted({ep.port for ep in svc.endpoints}):
        members = [ep for ep in svc.endpoints if ep.port == port]
        service_ports: list[LabApiServicePort | None] = [
            p for p in svc.ports if p.target_port == port
        ] or [None]
        suffix = hashlib.sha256(f"{svc.namespace}/{svc.name}/{port}".encode()).hexdigest()[:5]
        endpoints = []
        for ep in members:
            endpoint: Obj = {
                "addresses": [ep.ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "namespace": svc.namespace, "name": ep.pod},
            }
            if ep.pod in node_of:
                endpoint["nodeName"] = node_of[ep.pod]
            endpoints.append(endpoint)
        slices.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{svc.name}-{suffix}",
                    "namespace": svc.namespace,
                    "labels": {
                        "kubernetes.io/service-name": svc.name,
                        "endpointslice.kubernetes.io/managed-by": (
                            "endpointslice-controller.k8s.io"
                        ),
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": svc.name,
                            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, svc.namespace + svc.name)),
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "addressType": "IPv6" if members and ":" in members[0].ip else "IPv4",
                "endpoints": endpoints,
                "ports": [
                    {"name": sp.name if sp else "", "port": port,
                     "protocol": sp.protocol if sp else "TCP"}
                    for sp in service_ports
                ],
            }
        )
    return slices


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
