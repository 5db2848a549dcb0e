"""What the lab API server serves besides pods: its nodes and Services, as typed data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctdiag.lab.topology import LabNode


@dataclass(frozen=True, slots=True)
class LabApiNode:
    """A Node of the lab API; exec in its pods runs inside ``netns``.

    Attributes:
        name: Node name, e.g. ``ctdlab-node1``.
        netns: network namespace exec runs in.
        ip: InternalIP, also the IP of the node's (hostNetwork) pods.
        ready: the Ready condition.
        labels: extra labels; ``kubernetes.io/hostname``, ``kubernetes.io/os`` and
            ``node-role.kubernetes.io/worker`` are always added.
        host_missing: programs absent from the node's host filesystem (``chroot /host``).
        pod_cidrs: ``spec.podCIDRs`` (empty: none, as where the CNI allocates its own).
    """

    name: str
    netns: str
    ip: str = "198.18.0.11"
    ready: bool = True
    labels: tuple[tuple[str, str], ...] = ()
    host_missing: frozenset[str] = frozenset()
    pod_cidrs: tuple[str, ...] = ("10.244.1.0/24",)

    def all_labels(self) -> dict[str, str]:
        """The labels a kubelet registers, then the extra ones."""
        return {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/worker": "",
            **dict(self.labels),
        }


@dataclass(frozen=True, slots=True)
class LabApiPod:
    """A workload pod, served as Running with its IP (read only: nothing runs it).

    Attributes:
        name: pod name.
        namespace: Kubernetes namespace.
        node: the node it is scheduled on.
        ip: ``status.podIP`` (the node's address for a host-network pod).
        host_network: ``spec.hostNetwork``.
        phase: ``status.phase``.
    """

    name: str
    namespace: str
    node: str
    ip: str
    host_network: bool = False
    phase: str = "Running"


@dataclass(frozen=True, slots=True)
class LabApiServicePort:
    """One port of a Service."""

    name: str
    port: int
    target_port: int
    protocol: str = "TCP"
    node_port: int | None = None


@dataclass(frozen=True, slots=True)
class LabApiEndpoint:
    """One ready endpoint: the pod behind it, its address and port."""

    pod: str
    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class LabApiService:
    """A Service, served as v1 Service plus discovery.k8s.io/v1 EndpointSlices.

    Attributes:
        name: Service name.
        namespace: Kubernetes namespace.
        cluster_ip: the ClusterIP.
        ports: the Service ports.
        endpoints: ready endpoints; one EndpointSlice per distinct endpoint port.
    """

    name: str
    namespace: str
    cluster_ip: str
    ports: tuple[LabApiServicePort, ...]
    endpoints: tuple[LabApiEndpoint, ...] = ()


def lab_services_from_topology(lab: LabNode) -> tuple[LabApiService, ...]:
    """The Services of a lab topology (``default_lab()``) as API objects.

    Topology Services are one port each; ports sharing a Service name (``blackhole`` TCP and
    UDP) merge into one Service, as they are in a cluster.
    """
    ports: dict[tuple[str, str], list[LabApiServicePort]] = defaultdict(list)
    endpoints: dict[tuple[str, str], list[LabApiEndpoint]] = defaultdict(list)
    cluster_ips: dict[tuple[str, str], str] = {}
    for svc in lab.services:
        key = (svc.k8s_namespace, svc.name)
        cluster_ips.setdefault(key, svc.cluster_ip)
        ports[key].append(
            LabApiServicePort(
                name=svc.port_name,
                port=svc.port,
                target_port=svc.target_port,
                protocol=svc.protocol.value.upper(),
                node_port=svc.node_port,
            )
        )
        for ep in svc.endpoints:
            endpoint = LabApiEndpoint(pod=ep.pod, ip=ep.ip, port=ep.port)
            if endpoint not in endpoints[key]:
                endpoints[key].append(endpoint)
    return tuple(
        LabApiService(
            name=name,
            namespace=namespace,
            cluster_ip=cluster_ips[(namespace, name)],
            ports=tuple(ports[(namespace, name)]),
            endpoints=tuple(endpoints[(namespace, name)]),
        )
        for namespace, name in ports
    )


def lab_pods_from_topology(lab: LabNode, node: str) -> tuple[LabApiPod, ...]:
    """The pods of a lab topology as Running pods on ``node``, in ``default``."""
    return tuple(LabApiPod(name=pod.name, namespace="default", node=node, ip=pod.ip)
                 for pod in lab.pods)  # fmt: skip
