"""The ``--expect FILE`` format: the Services a node should translate, when no API is asked.

For ``--local``, ``--netns`` and ``--snapshot`` runs there is no cluster to list Services
from; the file says what the API would have said. Schema (YAML)::

    services:
      - name: kube-dns                # required
        namespace: kube-system        # default: default
        clusterIPs: [10.96.0.10, "fd00:10:96::a"]   # or clusterIP: 10.96.0.10 (one of them
                                      # is required; both must agree, as in the API)
        externalIPs: [192.0.2.10]     # optional: external and load-balancer IPs
        ports:                        # required, at least one
          - port: 53                  # required, 1-65535
            protocol: UDP             # TCP (default), UDP or SCTP, any case
            targetPort: 53            # default: port; a number or a container port name
            nodePort: 30053           # optional
            name: dns                 # optional
        endpoints:                    # optional (none: every translation is wrong)
          - ip: 10.244.1.21           # required
            port: 53                  # default: the targetPort of each port
            ready: true               # default: true
            serving: true             # default: the value of ready
            pod: coredns-7db6d8ff4d-x2v9q   # optional
            node: worker-1            # optional

An endpoint without ``port`` serves every port of its Service at that port's ``targetPort``
(which must then be a number). An endpoint with ``port`` serves the ports whose numeric
``targetPort`` is that number, and every port whose ``targetPort`` is a name (a name
resolves per pod, as EndpointSlices do); a ``port`` no Service port can use is an error.

Unknown keys are errors, so a typo never passes silently. Every error is one line:
``FILE: services[2].ports[0].protocol: must be TCP, UDP or SCTP, got 'ICMP'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import yaml  # type: ignore[import-untyped, unused-ignore]

from ctdiag.errors import ExpectationError
from ctdiag.model.services import ExpectedService, ServiceEndpoint, ServicePort
from ctdiag.parse.services import normal_ip, protocol_of

_T = TypeVar("_T")
_SERVICE_KEYS = (
    "name",
    "namespace",
    "clusterIP",
    "clusterIPs",
    "externalIPs",
    "ports",
    "endpoints",
)
_PORT_KEYS = ("port", "protocol", "targetPort", "nodePort", "name")
_ENDPOINT_KEYS = ("ip", "port", "ready", "serving", "pod", "node")


def load_expectations(text: str, source: str) -> tuple[ExpectedService, ...]:
    """Read an expectations file.

    Args:
        text: the file's text.
        source: its name, for error messages.

    Returns:
        The Services, in file order.

    Raises:
        ExpectationError: invalid YAML or a document that does not follow the schema; the
            message names the file, the path in the document and what is wrong.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ExpectationError(f"{source}: {line}invalid YAML: {problem}") from None
    reader = _Reader(source)
    if not isinstance(document, dict):
        what = "empty" if document is None else f"a {_kind(document)}"
        raise reader.error("", f"expected a mapping with a 'services' list, the file is {what}")
    reader.keys(document, "", ("services",))
    items = reader.typed(document.get("services"), "services", list, "a list")
    services = tuple(reader.service(item, f"services[{k}]") for k, item in enumerate(items))
    seen: dict[tuple[str, str], int] = {}
    for k, svc in enumerate(services):
        first = seen.setdefault((svc.namespace, svc.name), k)
        if first != k:
            raise reader.error(
                f"services[{k}]", f"{svc.namespace}/{svc.name} is already services[{first}]"
            )
    return services


def _kind(value: object) -> str:
    return {list: "list", dict: "mapping", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


class _Reader:
    """Validates one document, naming the path of every problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, what: str) -> ExpectationError:
        return ExpectationError(f"{self.source}: {path + ': ' if path else ''}{what}")

    def keys(self, item: Mapping[str, Any], path: str, known: tuple[str, ...]) -> None:
        for key in item:
            if key not in known:
                where = f"{path}.{key}" if path else str(key)
                raise self.error(where, f"unknown key; known keys: {', '.join(known)}")

    def typed(self, value: object, path: str, kind: type[_T], what: str) -> _T:
        # bool is an int to Python; YAML's "true" is never a port.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = "missing" if value is None else f"a {_kind(value)}: {value!r}"
            raise self.error(path, f"expected {what}, got {shown}")
        return value

    def mapping(self, value: object, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        item = self.typed(value, path, dict, "a mapping")
        self.keys(item, path, known)
        return item

    def port_number(self, value: object, path: str) -> int:
        number = self.typed(value, path, int, "a port number")
        if not 1 <= number <= 65535:
            raise self.error(path, f"port must be 1-65535, got {number}")
        return number

    def text(self, value: object, path: str) -> str:
        text = self.typed(value, path, str, "a string")
        if not text.strip():
            raise self.error(path, "must not be empty")
        return text

    def optional(
        self,
        item: Mapping[str, Any],
        key: str,
        path: str,
        read: Callable[[object, str], _T],
        default: _T,
    ) -> _T:
        return read(item[key], f"{path}.{key}") if key in item else default

    def ips(self, value: object, path: str) -> tuple[str, ...]:
        items = self.typed(value, path, list, "a list of IP addresses")
        return tuple(
            dict.fromkeys(
                normal_ip(ip, f"{self.source}: {path}[{k}]") for k, ip in enumerate(items)
            )
        )

    def service(self, value: object, path: str) -> ExpectedService:
        item = self.mapping(value, path, _SERVICE_KEYS)
        name = self.text(item.get("name"), f"{path}.name")
        namespace = self.optional(item, "namespace", path, self.text, "default")
        no_ips: tuple[str, ...] = ()
        cluster_ips = self.optional(item, "clusterIPs", path, self.ips, no_ips)
        if "clusterIP" in item:
            one = normal_ip(item["clusterIP"], f"{self.source}: {path}.clusterIP")
            if cluster_ips and cluster_ips[0] != one:
                raise self.error(
                    f"{path}.clusterIP", f"{one} is not clusterIPs[0] ({cluster_ips[0]})"
                )
            cluster_ips = cluster_ips or (one,)
        if not cluster_ips:
            raise self.error(
                path,
                "clusterIP or clusterIPs is required (headless Services have no DNAT to check)",
            )
        external = self.optional(item, "externalIPs", path, self.ips, no_ips)
        raw_ports = self.typed(item.get("ports"), f"{path}.ports", list, "a list of ports")
        if not raw_ports:
            raise self.error(f"{path}.ports", "at least one port is required")
        specs = [self.port(p, f"{path}.ports[{k}]") for k, p in enumerate(raw_ports)]
        seen: dict[tuple[int, str], int] = {}
        for k, spec in enumerate(specs):
            first = seen.setdefault((spec.port, spec.protocol.value), k)
            if first != k:
                raise self.error(
                    f"{path}.ports[{k}]",
                    f"{spec.port}/{spec.protocol.value} is already ports[{first}]",
                )
        raw_endpoints: list[object] = self.optional(
            item, "endpoints", path, lambda v, p: self.typed(v, p, list, "a list"), []
        )
        endpoints = [
            self.endpoint(e, f"{path}.endpoints[{k}]", specs, path)
            for k, e in enumerate(raw_endpoints)
        ]
        ports = tuple(
            ServicePort(
                spec.port,
                spec.protocol,
                spec.target_port,
                tuple(e for per_port in endpoints for e in per_port.get(k, ())),
                spec.name,
                spec.node_port,
            )
            for k, spec in enumerate(specs)
        )
        return ExpectedService(namespace, name, cluster_ips, ports, external)

    def port(self, value: object, path: str) -> ServicePort:
        item = self.mapping(value, path, _PORT_KEYS)
        number = self.port_number(item.get("port"), f"{path}.port")
        protocol = protocol_of(item.get("protocol", "TCP"), f"{self.source}: {path}.protocol")
        target: int | str = number
        if "targetPort" in item:
            raw = item["targetPort"]
            where = f"{path}.targetPort"
            target = self.text(raw, where) if isinstance(raw, str) else self.port_number(raw, where)
        node_port = self.optional(item, "nodePort", path, self.port_number, None)
        name = self.optional(item, "name", path, self.text, "")
        return ServicePort(number, protocol, target, (), name, node_port)

    def endpoint(
        self, value: object, path: str, specs: list[ServicePort], service_path: str
    ) -> dict[int, tuple[ServiceEndpoint]]:
        """The endpoint, per index of the Service ports it serves."""
        item = self.mapping(value, path, _ENDPOINT_KEYS)
        ip = normal_ip(item.get("ip"), f"{self.source}: {path}.ip")
        port = self.optional(item, "port", path, self.port_number, None)
        ready = self.optional(item, "ready", path, self.flag, True)
        serving = self.optional(item, "serving", path, self.flag, ready)
        pod = self.optional(item, "pod", path, self.text, None)
        node = self.optional(item, "node", path, self.text, None)
        served: dict[int, tuple[ServiceEndpoint]] = {}
        for k, spec in enumerate(specs):
            if port is None and isinstance(spec.target_port, str):
                raise self.error(
                    f"{path}.port",
                    f"required: {service_path}.ports[{k}] has the "
                    f"named targetPort {spec.target_port!r}",
                )
            number = spec.target_port if port is None else port
            if isinstance(spec.target_port, str) or spec.target_port == number:
                served[k] = (ServiceEndpoint(ip, int(number), ready, serving, pod, node),)
        if not served:
            targets = ", ".join(str(s.target_port) for s in specs)
            raise self.error(f"{path}.port", f"{port} is no targetPort of this Service ({targets})")
        return served

    def flag(self, value: object, path: str) -> bool:
        return self.typed(value, path, bool, "true or false")
