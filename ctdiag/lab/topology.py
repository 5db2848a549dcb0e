"""What the lab builds: one Kubernetes-like node made of network namespaces, as typed data.

The node namespace routes for its pods (point-to-point veths, Calico style: every pod link
carries the gateway address and a /32 route), so that all pod-to-pod and pod-to-Service
traffic crosses the node's netfilter hooks and its conntrack table. Addresses exist only
inside the lab's namespaces; nothing is added to the host's namespace.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from ctdiag.errors import LabError
from ctdiag.lab.netns import PREFIX

#: kube-proxy's default masquerade bit.
MASQ_MARK = 0x4000


class Protocol(enum.Enum):
    """L4 protocol of a Service port, spelled as iptables and kube-proxy spell it."""

    TCP = "tcp"
    UDP = "udp"


class PodRole(enum.Enum):
    """What a pod of the lab is for."""

    WEB = "web"
    DNS = "dns"
    SINK = "sink"
    """Drops everything it receives: a blackholed endpoint and the target of table fills."""
    CLIENT = "client"


@dataclass(frozen=True, slots=True)
class LabPod:
    """A pod: its own network namespace, one veth to the node.

    Attributes:
        name: short name, also the node-side link suffix (``ctdlab-<name>``).
        namespace: network namespace (``ctdlab-n1-<name>``).
        ip: the pod's /32 address inside the node's pod CIDR.
        role: what the pod runs.
    """

    name: str
    namespace: str
    ip: str
    role: PodRole

    @property
    def node_link(self) -> str:
        """The veth end inside the node namespace (at most 15 characters)."""
        return f"{PREFIX}{self.name}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready endpoint of a Service port."""

    pod: str
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class LabService:
    """A Service port as kube-proxy sees it.

    Attributes:
        name: Service name in the ``default`` namespace.
        port_name: name of the Service port (part of kube-proxy's chain hashes).
        cluster_ip: the ClusterIP.
        port: Service port.
        protocol: L4 protocol.
        target_port: port on the endpoints.
        endpoints: ready endpoints.
        node_port: NodePort, or ``None`` for a ClusterIP-only Service.
    """

    name: str
    port_name: str
    cluster_ip: str
    port: int
    protocol: Protocol
    target_port: int
    endpoints: tuple[Endpoint, ...]
    node_port: int | None = None
    k8s_namespace: str = "default"

    @property
    def service_port_name(self) -> str:
        """``namespace/name:port`` as kube-proxy writes it in comments and hashes."""
        return f"{self.k8s_namespace}/{self.name}:{self.port_name}"


@dataclass(frozen=True, slots=True)
class ExternalHost:
    """A host beside the node on the node's lab-only link (reaches NodePorts)."""

    namespace: str
    ip: str
    link: str


@dataclass(frozen=True, slots=True)
class LabNode:
    """The node and everything built around it.

    Attributes:
        name: node name.
        namespace: the node's network namespace; its conntrack table is the one checks read.
        node_ip: the node address on its lab-only uplink.
        uplink: node-side link name toward :attr:`external`.
        prefix_len: prefix length of the uplink network.
        pod_cidr: this node's pod CIDR.
        gateway: the node's address on every pod link.
        cluster_cidr: all pods' CIDR (kube-proxy's ``--cluster-cidr``).
        service_cidr: the Service CIDR.
        pods: the pods on this node.
        services: the Services the lab installs at ``up``.
        external: the external host.
    """

    name: str
    namespace: str
    node_ip: str
    uplink: str
    prefix_len: int
    pod_cidr: str
    gateway: str
    cluster_cidr: str
    service_cidr: str
    pods: tuple[LabPod, ...]
    services: tuple[LabService, ...]
    external: ExternalHost

    def pod(self, name: str) -> LabPod:
        """The pod called ``name``; raises :class:`LabError` when there is none."""
        for pod in self.pods:
            if pod.name == name:
                return pod
        raise LabError(f"no pod {name!r} in the lab")

    def service(self, name: str) -> LabService:
        """The Service called ``name``; raises :class:`LabError` when there is none."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise LabError(f"no service {name!r} in the lab")

    def pods_with_role(self, role: PodRole) -> tuple[LabPod, ...]:
        return tuple(p for p in self.pods if p.role is role)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of the lab, node first."""
        return (self.namespace, self.external.namespace, *(p.namespace for p in self.pods))


def _pod(node_index: int, name: str, host: int, role: PodRole, cidr: str) -> LabPod:
    ip = str(ipaddress.IPv4Network(cidr)[host])
    return LabPod(name=name, namespace=f"{PREFIX}n{node_index}-{name}", ip=ip, role=role)


def default_lab() -> LabNode:
    """The lab ``up`` builds: node1 with two web pods, two DNS pods, a sink and a client.

    Addresses: pods in 10.244.1.0/24, Services in 10.96.0.0/16, the node at 198.18.0.11 on
    a link to an external host (198.18.0.0/15 is reserved for benchmarking, RFC 2544, so it
    cannot clash with a real network).
    """
    cidr = "10.244.1.0/24"
    pods = (
        _pod(1, "web1", 11, PodRole.WEB, cidr),
        _pod(1, "web2", 12, PodRole.WEB, cidr),
        _pod(1, "dns1", 21, PodRole.DNS, cidr),
        _pod(1, "dns2", 22, PodRole.DNS, cidr),
        _pod(1, "sink", 31, PodRole.SINK, cidr),
        _pod(1, "client", 100, PodRole.CLIENT, cidr),
    )
    web = LabService(
        name="web",
        port_name="http",
        cluster_ip="10.96.0.20",
        port=80,
        protocol=Protocol.TCP,
        target_port=8080,
        endpoints=tuple(Endpoint(p.name, p.ip, 8080) for p in pods if p.role is PodRole.WEB),
        node_port=30080,
    )
    dns = LabService(
        name="dns",
        port_name="dns",
        cluster_ip="10.96.0.10",
        port=53,
        protocol=Protocol.UDP,
        target_port=53,
        endpoints=tuple(Endpoint(p.name, p.ip, 53) for p in pods if p.role is PodRole.DNS),
    )
    return LabNode(
        name="node1",
        namespace=f"{PREFIX}node1",
        node_ip="198.18.0.11",
        uplink=f"{PREFIX}up",
        prefix_len=24,
        pod_cidr=cidr,
        gateway=str(ipaddress.IPv4Network(cidr)[1]),
        cluster_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/16",
        pods=pods,
        services=(web, dns),
        external=ExternalHost(namespace=f"{PREFIX}ext", ip="198.18.0.100", link=f"{PREFIX}ext0"),
    )


def blackhole_service(node: LabNode) -> LabService:
    """A Service whose only endpoint is the sink pod, which drops everything (scenario use)."""
    sink = node.pods_with_role(PodRole.SINK)[0]
    return LabService(
        name="blackhole",
        port_name="tcp",
        cluster_ip="10.96.0.99",
        port=9000,
        protocol=Protocol.TCP,
        target_port=9000,
        endpoints=(Endpoint(sink.name, sink.ip, 9000),),
    )


def blackhole_udp_service(node: LabNode) -> LabService:
    """UDP twin of :func:`blackhole_service` on the same ClusterIP."""
    sink = node.pods_with_role(PodRole.SINK)[0]
    return LabService(
        name="blackhole",
        port_name="udp",
        cluster_ip="10.96.0.99",
        port=9001,
        protocol=Protocol.UDP,
        target_port=9001,
        endpoints=(Endpoint(sink.name, sink.ip, 9001),),
    )
