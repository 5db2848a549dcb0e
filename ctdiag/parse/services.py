"""Expected Services read from the API's JSON and from saved runs: pure, no I/O.

The kube edge lists v1 Services and discovery.k8s.io/v1 EndpointSlices and passes them here
as plain dicts in the API's JSON shape (``api_client.sanitize_for_serialization(obj)``);
``--save-snapshot`` saves the Services judged against as JSON (:func:`services_to_json`),
read back by :func:`services_from_json`. Both end as
:class:`~ctdiag.model.services.ExpectedService` values.

Endpoints are read as kube-proxy reads them: an EndpointSlice port is matched to the
Service port by name and protocol, its number is the endpoint's port (so a named target
port resolves per slice), only the first address of an endpoint counts, and an endpoint is
ready unless ``conditions.ready`` is false.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ctdiag.errors import CtdiagError, ExpectationError, ParseError
from ctdiag.model.services import (
    ExpectedService,
    ServiceEndpoint,
    ServicePort,
    ServiceProtocol,
)
from ctdiag.parse.values import normalize_address


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
