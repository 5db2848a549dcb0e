"""Expected Services from Kubernetes JSON (ctdiag.parse.services.services_from_k8s)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ctdiag.errors import ExpectationError
from ctdiag.lab.apiserver.cluster import lab_services_from_topology
from ctdiag.lab.apiserver.services import endpoint_slice_objects, service_object
from ctdiag.lab.topology import blackhole_service, blackhole_udp_service, default_lab
from ctdiag.model.services import (
    ExpectedService,
    ServiceEndpoint,
    ServiceProtocol,
    expected_ports,
)
from ctdiag.parse.services import services_from_k8s


def service(name: str, spec: dict[str, Any], namespace: str = "kube-system", **extra: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec, **extra}  # fmt: skip


def endpoint(ip: str, pod: str, **conditions: bool | None) -> dict[str, Any]:
    return {
        "addresses": [ip],
        "conditions": {k: v for k, v in conditions.items() if v is not None},
        "nodeName": "ovn-worker",
        "targetRef": {"kind": "Pod", "namespace": "kube-system", "name": pod},
    }


def endpoint_slice(
    owner: str, address_type: str, ports: list[dict], endpoints: list[dict], suffix: str = "x"
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{owner}-{suffix}",
            "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": owner},
        },
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports,
    }


DNS_PORTS = [
    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
    {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": "metrics"},
]
SLICE_PORTS = [
    {"name": "dns", "port": 53, "protocol": "UDP"},
    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    {"name": "metrics", "port": 9153, "protocol": "TCP"},
]
KUBE_DNS = service("kube-dns", {
    "type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00:10:96::a"],
    "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "PreferDualStack", "ports": DNS_PORTS,
})  # fmt: skip
DNS_SLICES = [
    endpoint_slice("kube-dns", "IPv4", SLICE_PORTS, [
        endpoint("10.244.1.21", "coredns-a", ready=True, serving=True, terminating=False),
        # Terminating but still serving its flows: not ready, serving.
        endpoint("10.244.1.22", "coredns-b", ready=False, serving=True, terminating=True),
        # Not ready at all (readiness probe failing).
        endpoint("10.244.1.23", "coredns-c", ready=False, serving=False, terminating=False),
        # No conditions: ready is "unknown", which consumers read as ready.
        endpoint("10.244.1.24", "coredns-d"),
    ]),
    endpoint_slice("kube-dns", "IPv6", SLICE_PORTS, [
        endpoint("FD00:10:244:1:0::15", "coredns-a", ready=True),
    ], suffix="y"),
]  # fmt: skip


def test_dual_stack_service_with_not_ready_endpoints() -> None:
    (dns,) = services_from_k8s([KUBE_DNS], DNS_SLICES)
    assert (dns.namespace, dns.name) == ("kube-system", "kube-dns")
    assert dns.cluster_ips == ("10.96.0.10", "fd00:10:96::a")
    udp = dns.ports[0]
    assert (udp.name, udp.protocol, udp.target_port) == ("dns", ServiceProtocol.UDP, 53)
    assert udp.endpoints == (
        ServiceEndpoint("10.244.1.21", 53, True, True, "coredns-a", "ovn-worker"),
        ServiceEndpoint("10.244.1.22", 53, False, True, "coredns-b", "ovn-worker"),
        ServiceEndpoint("10.244.1.23", 53, False, False, "coredns-c", "ovn-worker"),
        ServiceEndpoint("10.244.1.24", 53, True, True, "coredns-d", "ovn-worker"),
        ServiceEndpoint("fd00:10:244:1::15", 53, True, True, "coredns-a", "ovn-worker"),
    )
    assert [str(e) for e in udp.ready_endpoints] == [
        "10.244.1.21:53", "10.244.1.24:53", "[fd00:10:244:1::15]:53",
    ]  # fmt: skip
    assert [e.ip for e in udp.serving_endpoints] == [
        "10.244.1.21", "10.244.1.22", "10.244.1.24", "fd00:10:244:1::15",
    ]  # fmt: skip
    assert [p.id for p in dns.expected_ports()] == [
        "kube-system/kube-dns:53/udp", "kube-system/kube-dns:53/tcp",
        "kube-system/kube-dns:9153/tcp",
    ]  # fmt: skip


def test_named_target_port_resolves_per_slice() -> None:
    """targetPort "metrics" is 9153 in one slice and 9253 in another (two pod templates)."""
    moved = [{"name": "metrics", "port": 9253, "protocol": "TCP"}]
    other = endpoint_slice("kube-dns", "IPv4", moved, [endpoint("10.244.2.9", "coredns-b2")], "z")
    (dns,) = services_from_k8s([KUBE_DNS], [*DNS_SLICES, other])
    metrics = dns.ports[2]
    assert metrics.target_port == "metrics"
    pairs = {(e.ip, e.port) for e in metrics.endpoints}
    assert {("10.244.1.21", 9153), ("10.244.2.9", 9253)} <= pairs
    # The UDP and TCP "dns" ports never take the other protocol's or the other name's slice port.
    assert all(e.port == 53 for p in dns.ports[:2] for e in p.endpoints)
    assert ("10.244.2.9", 9253) not in {(e.ip, e.port) for e in dns.ports[0].endpoints}


def test_headless_external_name_and_fqdn_slices_are_skipped() -> None:
    headless = service("db", {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
                              "ports": [{"port": 5432, "protocol": "TCP"}]})  # fmt: skip
    external = service("ext", {"type": "ExternalName", "externalName": "db.example.com"})
    fqdn = endpoint_slice("kube-dns", "FQDN", SLICE_PORTS, [endpoint("db.example.com", "x")], "f")
    found = services_from_k8s([headless, external, KUBE_DNS], [*DNS_SLICES, fqdn])
    assert [s.name for s in found] == ["kube-dns"]
    assert all(e.ip != "db.example.com" for p in found[0].ports for e in p.endpoints)


def test_node_port_load_balancer_and_external_ips() -> None:
    web = service("web", {
        "type": "LoadBalancer", "clusterIP": "10.96.0.20", "externalIPs": ["192.0.2.7"],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080,
                   "nodePort": 30080}],
    }, namespace="default", status={"loadBalancer": {"ingress": [
        {"ip": "203.0.113.5", "ipMode": "VIP"}, {"hostname": "lb.example.com"}]}})  # fmt: skip
    (svc,) = services_from_k8s([web], [])
    assert svc.external_ips == ("192.0.2.7", "203.0.113.5")
    assert svc.addresses == ("10.96.0.20", "192.0.2.7", "203.0.113.5")
    (port,) = svc.ports
    assert (port.node_port, port.target_port, port.endpoints) == (30080, 8080, ())
    assert svc.port_id(port) == "default/web:80/tcp"


def test_defaults_of_minimal_objects() -> None:
    """Protocol TCP, targetPort = port, unnamed port, no slices: no endpoints."""
    (svc,) = services_from_k8s(
        [service("plain", {"clusterIP": "10.96.5.5", "ports": [{"port": 8443}]})], []
    )
    (port,) = svc.ports
    assert (port.protocol, port.target_port, port.name, port.node_port) == (
        ServiceProtocol.TCP, 8443, "", None,
    )  # fmt: skip


def test_duplicate_endpoint_in_mirrored_slices_counts_once_and_ready_wins() -> None:
    down = endpoint("10.244.1.21", "coredns-a", ready=False, serving=False)
    a = endpoint_slice("kube-dns", "IPv4", SLICE_PORTS[:1], [down], "a")
    b = endpoint_slice("kube-dns", "IPv4", SLICE_PORTS[:1], [endpoint("10.244.1.21", "coredns-a")])
    (dns,) = services_from_k8s([KUBE_DNS], [a, b])
    assert dns.ports[0].endpoints == (
        ServiceEndpoint("10.244.1.21", 53, True, True, "coredns-a", "ovn-worker"),
    )


def test_slices_of_other_namespaces_do_not_mix() -> None:
    other = endpoint_slice("kube-dns", "IPv4", SLICE_PORTS, [endpoint("10.9.9.9", "x")], "o")
    other["metadata"]["namespace"] = "default"
    (dns,) = services_from_k8s([KUBE_DNS], [other])
    assert all(not p.endpoints for p in dns.ports)


def test_the_lab_api_objects_read_back_as_the_lab_topology() -> None:
    """With the blackhole Service: one Service, TCP 9000 and UDP 9001, one slice per port."""
    lab = default_lab()
    lab = replace(lab, services=(*lab.services, blackhole_service(lab), blackhole_udp_service(lab)))
    api = lab_services_from_topology(lab)
    node_of = {p.name: lab.name for p in lab.pods}
    found = services_from_k8s(
        [service_object(s) for s in api],
        [sl for s in api for sl in endpoint_slice_objects(s, node_of)],
    )
    by_name: dict[str, ExpectedService] = {s.name: s for s in found}
    for topo in lab.services:
        svc = by_name[topo.name]
        (port,) = [p for p in svc.ports if p.port == topo.port]
        assert port.name == topo.port_name
        assert svc.cluster_ips == (topo.cluster_ip,)
        assert port.protocol.conntrack_name == topo.protocol.value
        assert port.node_port == topo.node_port
        assert {(e.ip, e.port, e.pod, e.node) for e in port.endpoints} == {
            (e.ip, e.port, e.pod, lab.name) for e in topo.endpoints
        }
        assert all(e.ready and e.serving for e in port.endpoints)
    assert [p.id for p in expected_ports(found) if p.service.name == "dns"] == [
        "default/dns:53/udp"
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"clusterIP": "10.96.0.300", "ports": []},
         "Service kube-system/bad: spec.clusterIPs: not an IPv4 or IPv6 address: '10.96.0.300'"),
        ({"clusterIP": "10.96.0.3", "ports": [{"port": 1, "protocol": "ICMP"}]},
         "Service kube-system/bad: spec.ports[0].protocol: must be TCP, UDP or SCTP, got 'ICMP'"),
    ],
)  # fmt: skip
def test_objects_the_api_would_refuse(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpectationError) as caught:
        services_from_k8s([service("bad", spec)], [])
    assert str(caught.value) == message
