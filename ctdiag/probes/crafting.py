"""Probe packets, crafted with scapy: the only module of ctdiag that imports it.

Each packet is a complete IP packet (header included, checksums filled in by scapy) for a
``SOCK_RAW``/``IPPROTO_RAW`` socket on the node, with its own source port so that its
conntrack entry can be found by the exact tuple afterwards.
"""

from __future__ import annotations

import random

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw

from ctdiag.errors import ProbeTargetError
from ctdiag.model.probes import CraftedProbe, ProbeKind, ProbeTargets, ProbeTuple, hostport
from ctdiag.model.services import ExpectedServicePort, ServiceProtocol
from ctdiag.probes.destinations import check_target

DNS_PORT = 53
#: The name a DNS probe asks for: any answer, NXDOMAIN included, is a reply.
DNS_QUERY_NAME = "kubernetes.default.svc.cluster.local."
#: What a non-DNS UDP probe carries (a payload, so that servers that ignore empty
#: datagrams still see something).
UDP_PAYLOAD = b"ctdiag-probe\n"
#: The UNREPLIED self-test's destination port: traceroute's first UDP port, meant to have
#: no listener anywhere.
UNREPLIED_PORT = 33434
TTL = 64


def _ip(src: str, dst: str) -> Packet:
    return IPv6(src=src, dst=dst, hlim=TTL) if ":" in dst else IP(src=src, dst=dst, ttl=TTL)


def _tuple(protocol: str, src: str, sport: int, dst: str, dport: int) -> ProbeTuple:
    return ProbeTuple(protocol, src, sport, dst, dport)


def craft_service_probe(
    port: ExpectedServicePort, cluster_ip: str, src: str, sport: int, targets: ProbeTargets,
    rng: random.Random,
) -> CraftedProbe:  # fmt: skip
    """A TCP SYN or a UDP datagram (DNS query on port 53) to ``cluster_ip``:port.

    Args:
        port: the Service port probed.
        cluster_ip: one of its Service's ClusterIPs.
        src: the node's source address toward ``cluster_ip``.
        sport: the probe's own source port.
        targets: where probes may go, as the cluster or node reports it.
        rng: source of sequence numbers and DNS ids.

    Raises:
        ProbeTargetError: ``cluster_ip`` is not a Service or pod address of ``targets``; SCTP.
    """
    dst = check_target(targets, cluster_ip)
    number = port.port.port
    endpoints = tuple(hostport(e.ip, e.port) for e in port.port.ready_endpoints)
    if port.port.protocol is ServiceProtocol.TCP:
        segment = TCP(sport=sport, dport=number, flags="S", seq=rng.getrandbits(32),
                      window=64240, options=[("MSS", 1400)])  # fmt: skip
        packet = _ip(src, dst) / segment
        flow = _tuple("tcp", src, sport, dst, number)
        return CraftedProbe(ProbeKind.SERVICE_TCP, port.id, bytes(packet), flow, "TCP SYN",
                            endpoints)  # fmt: skip
    if port.port.protocol is ServiceProtocol.UDP:
        if number == DNS_PORT:
            query = DNS(id=rng.getrandbits(16), rd=1, qd=DNSQR(qname=DNS_QUERY_NAME, qtype="A"))
            packet, what = _ip(src, dst) / UDP(sport=sport, dport=number) / query, "DNS query"
        else:
            packet = _ip(src, dst) / UDP(sport=sport, dport=number) / Raw(UDP_PAYLOAD)
            what = "UDP datagram"
        return CraftedProbe(ProbeKind.SERVICE_UDP, port.id, bytes(packet),
                            _tuple("udp", src, sport, dst, number), what, endpoints)  # fmt: skip
    raise ProbeTargetError(f"{port.id}: no probe for {port.port.protocol.value}")


def craft_invalid_probe(
    dst: str, src: str, sport: int, targets: ProbeTargets, dport: int = UNREPLIED_PORT
) -> CraftedProbe:
    """A TCP segment with SYN and RST both set, which conntrack counts as ``invalid``.

    Raises:
        ProbeTargetError: ``dst`` is not a pod address of ``targets``.
    """
    target = check_target(targets, dst, pod_only=True)
    packet = _ip(src, target) / TCP(sport=sport, dport=dport, flags="SR", seq=1)
    return CraftedProbe(ProbeKind.INVALID, "", bytes(packet),
                        _tuple("tcp", src, sport, target, dport), "TCP SYN+RST")  # fmt: skip


def craft_unreplied_probe(
    dst: str, src: str, sport: int, targets: ProbeTargets, dport: int = UNREPLIED_PORT
) -> CraftedProbe:
    """A UDP datagram to a pod port with no listener: its entry must stay unreplied.

    Raises:
        ProbeTargetError: ``dst`` is not a pod address of ``targets``.
    """
    target = check_target(targets, dst, pod_only=True)
    packet = _ip(src, target) / UDP(sport=sport, dport=dport) / Raw(UDP_PAYLOAD)
    return CraftedProbe(ProbeKind.UNREPLIED, "", bytes(packet),
                        _tuple("udp", src, sport, target, dport), "UDP datagram")  # fmt: skip


def invalid_storm_packets(src: str, dst: str, sport: int, dport: int, variants: int) -> list[bytes]:
    """TCP packets conntrack must call INVALID, for the lab's ``invalid_storm`` scenario.

    Even ones carry impossible flag combinations (SYN+RST, SYN+FIN, FIN+PSH+URG) on fresh
    source ports; odd ones are ACKed data on the established flow ``src:sport -> dst:dport``
    with sequence and acknowledgement numbers far outside its window (kubernetes#74839).
    """
    rng = random.Random(4242)
    combos = ("SR", "SF", "FPU")
    out: list[bytes] = []
    for i in range(variants):
        if i % 2 == 0:
            tcp = TCP(sport=30000 + i, dport=dport, flags=combos[(i // 2) % 3],
                      seq=rng.getrandbits(32))  # fmt: skip
            out.append(bytes(IP(src=src, dst=dst) / tcp))
        else:
            tcp = TCP(sport=sport, dport=dport, flags="PA", seq=rng.getrandbits(32),
                      ack=rng.getrandbits(32))  # fmt: skip
            out.append(bytes(IP(src=src, dst=dst) / tcp / (b"x" * 32)))
    return out
