"""Expected Services: what a node's Service DNAT entries should translate to. Pure data.

They are read from the API's JSON and saved runs by :mod:`ctdiag.parse.services` and from
``--expect FILE`` by :mod:`ctdiag.parse.expect_file`. An endpoint is ready unless
``conditions.ready`` is false; ``serving`` follows ``conditions.serving`` (a terminating pod
still serving its open flows); kube-proxy's conntrack reconciler keeps entries to serving
endpoints, so the checks judge entries against serving endpoints.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class ServiceProtocol(enum.Enum):
    """L4 protocol of a Service port, spelled as the Kubernetes API spells it."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"

    @property
    def conntrack_name(self) -> str:
        """The name conntrack prints and takes with ``-p`` (``udp``)."""
        return self.value.lower()

    @property
    def number(self) -> int:
        """The IP protocol number (the conntrack table's ``protonum``)."""
        return {"TCP": 6, "UDP": 17, "SCTP": 132}[self.value]


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    """One endpoint of a Service port: the address and port DNAT must lead to.

    Attributes:
        ip: the endpoint address, in the table's normal text form.
        port: the port on the endpoint (the resolved target port).
        ready: ``conditions.ready`` is not false.
        serving: ready, or terminating but still serving its flows.
        pod: the pod behind it, when known.
        node: the node it runs on, when known.
    """

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    pod: str | None = None
    node: str | None = None

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a Service and the endpoints behind it.

    Attributes:
        port: the Service port (on the ClusterIPs and external IPs).
        protocol: its L4 protocol.
        target_port: the port on the pods: a number, or a container port name.
        endpoints: every known endpoint, ready or not.
        name: the port's name ("" for a single unnamed port).
        node_port: the NodePort, or ``None``.
    """

    port: int
    protocol: ServiceProtocol
    target_port: int | str
    endpoints: tuple[ServiceEndpoint, ...] = ()
    name: str = ""
    node_port: int | None = None

    @property
    def ready_endpoints(self) -> tuple[ServiceEndpoint, ...]:
        return tuple(e for e in self.endpoints if e.ready)

    @property
    def serving_endpoints(self) -> tuple[ServiceEndpoint, ...]:
        return tuple(e for e in self.endpoints if e.serving)


@dataclass(frozen=True, slots=True)
class ExpectedService:
    """A Service whose DNAT the checks verify (headless and ExternalName ones never are).

    Attributes:
        namespace: Kubernetes namespace.
        name: Service name.
        cluster_ips: its ClusterIPs (one per IP family), normal text form.
        ports: its ports.
        external_ips: ``spec.externalIPs`` and load-balancer ingress IPs, also translated.
    """

    namespace: str
    name: str
    cluster_ips: tuple[str, ...]
    ports: tuple[ServicePort, ...]
    external_ips: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address whose Service port traffic must be translated."""
        return self.cluster_ips + self.external_ips

    def port_id(self, port: ServicePort) -> str:
        """The test id of one port: ``default/kube-dns:53/udp``."""
        return f"{self.namespace}/{self.name}:{port.port}/{port.protocol.conntrack_name}"

    def expected_ports(self) -> tuple[ExpectedServicePort, ...]:
        return tuple(ExpectedServicePort(self, port) for port in self.ports)


@dataclass(frozen=True, slots=True)
class ExpectedServicePort:
    """One Service port with its Service: the unit the checks are parametrised by."""

    service: ExpectedService
    port: ServicePort

    @property
    def id(self) -> str:
        """``namespace/name:port/protocol``, e.g. ``default/kube-dns:53/udp``."""
        return self.service.port_id(self.port)


def expected_ports(services: Iterable[ExpectedService]) -> tuple[ExpectedServicePort, ...]:
    """Every port of every Service, in order."""
    return tuple(p for svc in services for p in svc.expected_ports())
