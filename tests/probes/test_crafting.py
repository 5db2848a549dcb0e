"""Crafting (pure): flags, ports, valid checksums, and targets the cluster does not report
refused."""

from __future__ import annotations

import random
import re

import pytest
from scapy.layers.dns import DNS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from ctdiag.errors import ProbeTargetError
from ctdiag.model.probes import ProbeKind, ProbeTargets, ProbeTuple
from ctdiag.model.services import (
    ExpectedService,
    ExpectedServicePort,
    ServiceEndpoint,
    ServicePort,
    ServiceProtocol,
)
from ctdiag.probes.crafting import (
    DNS_QUERY_NAME,
    UDP_PAYLOAD,
    UNREPLIED_PORT,
    craft_invalid_probe,
    craft_service_probe,
    craft_unreplied_probe,
)
from ctdiag.probes.destinations import SOURCE_PORTS, pick_source_ports

WEB = ExpectedService("default", "web", ("10.96.0.20",), (
    ServicePort(80, ServiceProtocol.TCP, 8080, (ServiceEndpoint("10.244.1.11", 8080),
                                                ServiceEndpoint("10.244.1.12", 8080, ready=False))),
))  # fmt: skip
DNS_SVC = ExpectedService("kube-system", "kube-dns", ("10.96.0.10", "fd00:10:96::a"), (
    ServicePort(53, ServiceProtocol.UDP, 53, (ServiceEndpoint("10.244.1.21", 53),)),
    ServicePort(9153, ServiceProtocol.UDP, 9153, (ServiceEndpoint("10.244.1.21", 9153),)),
    ServicePort(7, ServiceProtocol.SCTP, 7, (ServiceEndpoint("10.244.1.21", 7),)),
))  # fmt: skip
PORTS = (*WEB.expected_ports(), *DNS_SVC.expected_ports())
#: What the cluster reports, independently of the expected Services above.
TARGETS = ProbeTargets(
    service_addresses=frozenset({"10.96.0.20", "10.96.0.10", "fd00:10:96::a"}),
    pod_addresses=frozenset({"10.244.1.11", "10.244.1.21", "fd00:10:244::5"}),
    pod_networks=(), basis="the cluster reports",
)  # fmt: skip
NODE = "198.18.0.11"


def _port(port_id: str) -> ExpectedServicePort:
    return next(p for p in PORTS if p.id == port_id)


def _checksums_valid(raw: bytes) -> Packet:
    """Parse ``raw``, and check its checksums equal the ones scapy recomputes."""
    packet: Packet = IPv6(raw) if raw[0] >> 4 == 6 else IP(raw)
    fresh = packet.copy()
    for layer in (IP, TCP, UDP):
        if fresh.haslayer(layer):
            del fresh[layer].chksum
    again = fresh.__class__(bytes(fresh))
    for layer in (IP, TCP, UDP):
        if packet.haslayer(layer):
            assert packet[layer].chksum == again[layer].chksum, layer.__name__
            assert packet[layer].chksum not in (None, 0)
    return packet


def test_tcp_service_probe_is_a_syn_from_its_own_port() -> None:
    probe = craft_service_probe(_port("default/web:80/tcp"), "10.96.0.20", NODE, 61234, TARGETS,
                                random.Random(1))  # fmt: skip
    packet = _checksums_valid(probe.packet)
    assert packet[IP].src == NODE and packet[IP].dst == "10.96.0.20"
    assert str(packet[TCP].flags) == "S"
    assert (packet[TCP].sport, packet[TCP].dport) == (61234, 80)
    assert probe.kind is ProbeKind.SERVICE_TCP
    assert probe.flow == ProbeTuple("tcp", NODE, 61234, "10.96.0.20", 80)
    assert probe.endpoints == ("10.244.1.11:8080",)  # the not-ready one is not expected
    assert probe.port_id == "default/web:80/tcp"


def test_udp_port_53_gets_a_dns_query_other_udp_ports_a_payload() -> None:
    rng = random.Random(2)
    dns = craft_service_probe(_port("kube-system/kube-dns:53/udp"), "10.96.0.10", NODE, 61000,
                              TARGETS, rng)  # fmt: skip
    packet = _checksums_valid(dns.packet)
    assert packet[UDP].dport == 53 and packet[UDP].sport == 61000
    assert packet[DNS].qr == 0 and packet[DNS].qd[0].qname.decode() == DNS_QUERY_NAME
    other = craft_service_probe(_port("kube-system/kube-dns:9153/udp"), "10.96.0.10", NODE,
                                65535, TARGETS, rng)  # fmt: skip
    packet = _checksums_valid(other.packet)
    assert bytes(packet[UDP].payload) == UDP_PAYLOAD
    assert other.flow == ProbeTuple("udp", NODE, 65535, "10.96.0.10", 9153)


def test_ipv6_cluster_ip_gets_an_ipv6_packet() -> None:
    probe = craft_service_probe(_port("kube-system/kube-dns:53/udp"), "fd00:10:96::a",
                                "fd00:1::11", 61001, TARGETS, random.Random(3))  # fmt: skip
    packet = _checksums_valid(probe.packet)
    assert packet[IPv6].dst == "fd00:10:96::a" and packet[IPv6].nh == 17
    assert str(probe.flow) == "udp [fd00:1::11]:61001 -> [fd00:10:96::a]:53"


def test_invalid_self_test_is_syn_plus_rst() -> None:
    probe = craft_invalid_probe("10.244.1.11", "10.244.1.1", 62000, TARGETS)
    packet = _checksums_valid(probe.packet)
    assert packet[TCP].flags.S and packet[TCP].flags.R
    assert probe.kind is ProbeKind.INVALID
    assert probe.flow == ProbeTuple("tcp", "10.244.1.1", 62000, "10.244.1.11", UNREPLIED_PORT)


def test_unreplied_self_test_is_udp_to_a_pod_port() -> None:
    probe = craft_unreplied_probe("fd00:10:244::5", "fd00:1::11", 62002, TARGETS, dport=40000)
    packet = _checksums_valid(probe.packet)
    assert packet[UDP].dport == 40000
    assert probe.kind is ProbeKind.UNREPLIED


@pytest.mark.parametrize(
    ("craft", "target", "match"),
    [
        (lambda t: craft_invalid_probe(t, NODE, 62000, TARGETS), "8.8.8.8",
         "probe refused: 8.8.8.8 is not a pod address the cluster reports"),
        (lambda t: craft_invalid_probe(t, NODE, 62000, TARGETS), "10.96.0.20",
         "probe refused: 10.96.0.20 is a Service address, not a pod address the cluster "
         "reports"),
        (lambda t: craft_unreplied_probe(t, NODE, 62000, TARGETS), "10.244.1.12",
         "probe refused: 10.244.1.12 is not a pod address the cluster reports"),
        (lambda t: craft_unreplied_probe(t, NODE, 62000, TARGETS), "10.244.1.11/32",
         "probe refused: not an IPv4 or IPv6 address: '10.244.1.11/32'"),
        (lambda t: craft_service_probe(_port("default/web:80/tcp"), t, NODE, 62000, TARGETS,
                                       random.Random()), "198.18.0.100",
         "probe refused: 198.18.0.100 is neither a Service address nor a pod address the "
         "cluster reports"),
        (lambda t: craft_service_probe(_port("kube-system/kube-dns:7/sctp"), t, NODE, 62000,
                                       TARGETS, random.Random()), "10.96.0.10",
         "no probe for SCTP"),
    ],
)  # fmt: skip
def test_unreported_targets_are_refused_with_one_line(
    craft: object, target: str, match: str
) -> None:
    # 10.244.1.12 is an endpoint the expected Services name, but no pod the cluster reports.
    with pytest.raises(ProbeTargetError, match=re.escape(match)) as info:
        craft(target)  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_source_ports_are_high_distinct_and_unused() -> None:
    used = set(range(61000, 65500))
    ports = pick_source_ports(30, used, random.Random(4))
    assert len(set(ports)) == 30
    assert all(p in SOURCE_PORTS and p not in used for p in ports)
    with pytest.raises(ProbeTargetError, match="only 0 free source ports for 1 probes"):
        pick_source_ports(1, set(SOURCE_PORTS), random.Random())
