"""The lab's pure parts, without root: rule text, chain hashes, DNS wire format, readers."""

from __future__ import annotations

import pytest

from ctdiag.errors import LabError
from ctdiag.lab import rules
from ctdiag.lab.dns_wire import DnsFormatError, answer, build_query, parse_answer
from ctdiag.lab.netns import validate_name
from ctdiag.lab.observe import parse_flow, parse_stat
from ctdiag.lab.state import LabState, effective_services
from ctdiag.lab.topology import Endpoint, LabService, Protocol, default_lab


def _svc(name: str = "svc1", port_name: str = "p80") -> LabService:
    return LabService(
        name=name,
        port_name=port_name,
        cluster_ip="172.30.0.41",
        port=80,
        protocol=Protocol.TCP,
        target_port=80,
        endpoints=(Endpoint("a", "10.180.0.1", 80),),
        k8s_namespace="ns1",
    )


def test_chain_names_match_kube_proxy() -> None:
    # Values from kube-proxy's iptables proxier tests (ns1/svc1:p80, endpoint 10.180.0.1:80).
    assert rules.service_chain(_svc()) == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert rules.endpoint_chain(_svc(), "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def test_render_balances_and_omits_portals_on_request() -> None:
    node = default_lab()
    text = rules.render(node, node.services)
    assert text.count("COMMIT") == 2
    assert "--probability 0.50000000000" in text
    assert "--dport 30080" in text
    portal = f"-d {node.service('web').cluster_ip}/32 --dport 80 -j KUBE-SVC"
    assert portal in text
    hidden = rules.render(node, node.services, without_portal=["web"])
    assert portal not in hidden
    assert f"-j {rules.service_chain(node.service('web'))}" in hidden  # NodePort path stays


def test_render_rejects_unsafe_names() -> None:
    node = default_lab()
    with pytest.raises(LabError):
        rules.render(node, [_svc(name='x" -j ACCEPT')])


def test_removed_endpoint_leaves_the_service() -> None:
    node = default_lab()
    services = effective_services(node, LabState(removed_endpoints=("dns/dns1",)))
    dns = next(s for s in services if s.name == "dns")
    assert [e.pod for e in dns.endpoints] == ["dns2"]


def test_dns_round_trip() -> None:
    query = build_query(7, "whoami.lab")
    assert parse_answer(answer(query, {"whoami.lab": "10.244.1.21"}), 7) == "10.244.1.21"
    assert parse_answer(answer(query, {}), 7) is None
    with pytest.raises(DnsFormatError):
        answer(b"\x00" * 5, {})


def test_names_must_carry_the_prefix() -> None:
    assert validate_name("ctdlab-node1") == "ctdlab-node1"
    for bad in ("node1", "ctdlab-a b", "ctdlab-$(x)"):
        with pytest.raises(LabError):
            validate_name(bad)


def test_readers() -> None:
    line = (
        "ipv4     2 udp      17 29 src=10.244.1.100 dst=10.96.0.10 sport=40053 dport=53 "
        "packets=3 bytes=183 [UNREPLIED] src=10.244.1.21 dst=10.244.1.100 sport=53 dport=40053 "
        "packets=0 bytes=0 mark=0 zone=0 use=2"
    )
    flow = parse_flow(line)
    assert flow is not None and flow.unreplied and flow.dnat and flow.state is None
    assert flow.reply_src == "10.244.1.21" and flow.orig_sport == 40053
    stat = parse_stat(
        "entries  clashres found new invalid ignore delete chainlength insert insert_failed "
        "drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
        "00000010  00000001 00000000 00000000 0000000a 00000000 00000000 00000000 00000000 "
        "00000000 00000002 00000003 00000000  00000000 00000000 00000000 00000000\n"
        "00000010  00000000 00000000 00000000 00000005 00000000 00000000 00000000 00000000 "
        "00000000 00000000 00000001 00000000  00000000 00000000 00000000 00000000\n"
    )
    assert (stat.entries, stat.invalid, stat.drop, stat.early_drop) == (16, 15, 2, 4)
