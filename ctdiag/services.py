"""Expected Services: what a node's Service DNAT entries should translate to (issue 6).

Pure data and one pure reader. The kube edge lists v1 Services and discovery.k8s.io/v1
EndpointSlices and passes them here as plain dicts in the API's JSON shape
(``api_client.sanitize_for_serialization(obj)``); ``--expect FILE`` goes through
:mod:`ctdiag.expect_file`; both end as :class:`ExpectedService` values.

Endpoints are read as kube-proxy reads them: an EndpointSlice port is matched to the
Service port by name and protocol, its number is the endpoint's port (so a named target
port resolves per slice), only the first address of an endpoint counts, and an endpoint is
ready unless ``conditions.ready`` is false. ``serving`` follows ``conditions.serving`` (a
terminating pod still serving its open flows); kube-proxy's conntrack reconciler keeps
entries to serving endpoints, so the checks judge entries against serving endpoints.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ctdiag.errors import CtdiagError, ExpectationError, ParseError
from ctdiag.parsing.entries import normalize_address


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


def normal_ip(value: object, where: str) -> str:
    """``value`` as the table stores addresses; :class:`ExpectationError` when it is not one."""
    if not isinstance(value, str):
        got = "nothing (required)" if value is None else repr(value)
        raise ExpectationError(f"{where}: expected an IP address, got {got}")
    try:
        return normalize_address(value.strip())
    except ParseError:
        raise ExpectationError(f"{where}: not an IPv4 or IPv6 address: {value!r}") from None


def protocol_of(value: object, where: str) -> ServiceProtocol:
    """A protocol name in any case; :class:`ExpectationError` for anything else."""
    if isinstance(value, str) and value.upper() in ServiceProtocol.__members__:
        return ServiceProtocol[value.upper()]
    raise ExpectationError(f"{where}: must be TCP, UDP or SCTP, got {value!r}")


def services_from_k8s(
    services: list[dict[str, Any]], endpointslices: list[dict[str, Any]]
) -> tuple[ExpectedService, ...]:
    """Expected Services from v1 Service and discovery.k8s.io/v1 EndpointSlice dicts.

    Args:
        services: Services as the API serialises them (camelCase keys).
        endpointslices: EndpointSlices of the same namespaces; each belongs to the Service
            named by its ``kubernetes.io/service-name`` label.

    Returns:
        One value per Service with a ClusterIP, sorted by namespace and name; headless
        (``clusterIP: None``) and ExternalName Services are skipped.

    Raises:
        ExpectationError: an address or protocol the API would not have accepted.
    """
    slices: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item in endpointslices:
        meta = item.get("metadata") or {}
        owner = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if owner:
            slices.setdefault((meta.get("namespace") or "default", owner), []).append(item)
    found = []
    for item in services:
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        namespace, name = meta.get("namespace") or "default", meta.get("name") or ""
        where = f"Service {namespace}/{name}"
        raw_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        ips = tuple(
            normal_ip(ip, f"{where}: spec.clusterIPs") for ip in raw_ips if ip and ip != "None"
        )
        if spec.get("type") == "ExternalName" or not ips:
            continue
        ingress = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        external = [*(spec.get("externalIPs") or []), *(i["ip"] for i in ingress if i.get("ip"))]
        ports = tuple(
            _k8s_port(p, slices.get((namespace, name), []), f"{where}: spec.ports[{k}]")
            for k, p in enumerate(spec.get("ports") or [])
        )
        externals = dict.fromkeys(normal_ip(ip, f"{where}: external IP") for ip in external)
        found.append(ExpectedService(namespace, name, ips, ports, tuple(externals)))
    return tuple(sorted(found, key=lambda s: (s.namespace, s.name)))


def _k8s_port(spec: Mapping[str, Any], slices: list[Mapping[str, Any]], where: str) -> ServicePort:
    name = spec.get("name") or ""
    protocol = protocol_of(spec.get("protocol") or "TCP", f"{where}.protocol")
    endpoints: dict[tuple[str, int], ServiceEndpoint] = {}
    for item in slices:
        if item.get("addressType") not in ("IPv4", "IPv6"):
            continue  # FQDN slices are never translated by kube-proxy
        numbers = [
            p["port"]
            for p in item.get("ports") or []
            if (p.get("name") or "") == name
            and (p.get("protocol") or "TCP").upper() == protocol.value
            and p.get("port") is not None
        ]
        for number in numbers:
            for ep in item.get("endpoints") or []:
                addresses = ep.get("addresses") or []
                if not addresses:
                    continue
                ip = normal_ip(addresses[0], f"{where}: EndpointSlice address")
                cond = ep.get("conditions") or {}
                ready = cond.get("ready") is not False
                serving = ready if cond.get("serving") is None else bool(cond["serving"])
                ref = ep.get("targetRef") or {}
                pod = ref.get("name") if ref.get("kind") == "Pod" else None
                key = (ip, int(number))
                old = endpoints.get(key)  # a mirrored slice may list an endpoint twice
                if old is not None:
                    ready, serving = ready or old.ready, serving or old.serving
                endpoints[key] = ServiceEndpoint(
                    ip, int(number), ready, serving, pod, ep.get("nodeName")
                )
    target = spec.get("targetPort", spec.get("port"))
    return ServicePort(
        port=int(spec["port"]),
        protocol=protocol,
        target_port=target if isinstance(target, str) and not target.isdigit() else int(target),
        endpoints=tuple(sorted(endpoints.values(), key=lambda e: (e.ip, e.port))),
        name=name,
        node_port=int(spec["nodePort"]) if spec.get("nodePort") else None,
    )


def services_to_json(services: Sequence[ExpectedService]) -> str:
    """``services`` as JSON (saved runs keep the Services they were judged against)."""
    items = [dataclasses.asdict(service) for service in services]
    return json.dumps(items, indent=1, default=lambda item: item.value) + "\n"  # enums


def services_from_json(text: str, source: str) -> tuple[ExpectedService, ...]:
    """What :func:`services_to_json` wrote.

    Raises:
        CtdiagError: not such a document (one line naming ``source``).
    """
    try:
        return tuple(_service_of(item) for item in json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise CtdiagError(f"{source}: unreadable saved Services: {exc!r}") from None


def _service_of(item: dict[str, Any]) -> ExpectedService:
    ports = tuple(
        ServicePort(
            int(p["port"]), ServiceProtocol(p["protocol"]), p["target_port"],
            tuple(ServiceEndpoint(**e) for e in p["endpoints"]), str(p["name"]), p["node_port"],
        )
        for p in item["ports"]
    )  # fmt: skip
    return ExpectedService(str(item["namespace"]), str(item["name"]), tuple(item["cluster_ips"]),
                           ports, tuple(item["external_ips"]))  # fmt: skip
