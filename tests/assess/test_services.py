"""Service DNAT verification (``ctdiag.analyze.service_flows`` and ``.services``) on parsed
``conntrack -L -o extended`` text.

The lines follow what conntrack-tools 1.4.7 prints on kernel 6.18 (captured with
``conntrack -I`` in a scratch namespace for the zone, ``zone-orig`` and IPv6 forms): ``zone=N``
only for a non-zero zone, ``zone-orig=N`` before the status words. Addresses are the lab's:
pods in 10.244.1.0/24, Services in 10.96.0.0/16, the node at 198.18.0.11.
"""

from __future__ import annotations

import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ctdiag.analyze.service_flows import (
    FlowClass,
    ServiceFlows,
    dnat_rows,
    index_service_flows,
    node_addresses,
)
from ctdiag.assess.service_proxy import link_names, service_nat_in_conntrack
from ctdiag.assess.services import service_dnat_verdict, unreplied_services_verdict
from ctdiag.assess.stale_services import stale_dnat_verdict
from ctdiag.model.services import ExpectedService
from ctdiag.model.table import ConntrackTable
from ctdiag.model.verdict import Level
from ctdiag.parse.expect_file import load_expectations
from ctdiag.parse.listing import parse_listing
from tests.assess.inputs import data

EXPECT = """\
services:
  - name: dns
    clusterIPs: [10.96.0.10, "fd00:10:96::a"]
    ports: [{port: 53, protocol: UDP, name: dns}, {port: 53, protocol: TCP, name: dns-tcp}]
    endpoints:
      - {ip: 10.244.1.21, pod: dns1}
      - {ip: "fd00:10:244:1::15", pod: dns1}
      - {ip: 10.244.1.23, pod: dns3, ready: false, serving: true}   # terminating
  - name: web
    clusterIP: 10.96.0.20
    ports: [{port: 80, targetPort: 8080, nodePort: 30080, name: http}]
    endpoints: [{ip: 10.244.1.11, pod: web1}, {ip: 10.244.1.12, pod: web2}]
  - name: blackhole
    clusterIP: 10.96.0.99
    ports: [{port: 9000, name: tcp}, {port: 9001, protocol: UDP, name: udp}]
    endpoints: [{ip: 10.244.1.31, pod: sink}]
"""
SERVICES = load_expectations(EXPECT, "lab.yaml")
NODE_IPS = ("198.18.0.11",)

# --- realistic lines --------------------------------------------------------------------------
DNS_OK = (
    "ipv4     2 udp      17 27 src=10.244.1.100 dst=10.96.0.10 sport={p} dport=53 "
    "src=10.244.1.21 dst=10.244.1.100 sport=53 dport={p} mark=0 use=1"
)
DNS_OK_V6 = (
    "ipv6     10 udp      17 27 src=fd00:10:244:1::64 dst=fd00:10:96::a sport={p} "
    "dport=53 src=fd00:10:244:1::15 dst=fd00:10:244:1::64 sport=53 dport={p} mark=0 "
    "use=1"
)
#: DNAT'd to dns2 (10.244.1.22), removed from the Service; replied before, so no [UNREPLIED];
#: the client keeps sending, so the entry is ASSURED with the stream timeout.
DNS_STALE = (
    "ipv4     2 udp      17 {t} src=10.244.1.100 dst=10.96.0.10 sport={p} dport=53 "
    "src=10.244.1.22 dst=10.244.1.100 sport=53 dport={p} [ASSURED] mark=0 use=1"
)
#: Sent after the pod was deleted, before the rules changed: never answered.
DNS_STALE_UNREPLIED = (
    "ipv4     2 udp      17 {t} src=10.244.1.100 dst=10.96.0.10 sport={p} "
    "dport=53 [UNREPLIED] src=10.244.1.22 dst=10.244.1.100 sport=53 "
    "dport={p} mark=0 use=1"
)
DNS_STALE_V6 = (
    "ipv6     10 udp      17 {t} src=fd00:10:244:1::64 dst=fd00:10:96::a sport={p} "
    "dport=53 [UNREPLIED] src=fd00:10:244:1::16 dst=fd00:10:244:1::64 sport=53 "
    "dport={p} mark=0 use=1"
)
#: To the terminating (serving, not ready) endpoint: not stale.
DNS_TERMINATING = (
    "ipv4     2 udp      17 25 src=10.244.1.100 dst=10.96.0.10 sport={p} "
    "dport=53 src=10.244.1.23 dst=10.244.1.100 sport=53 dport={p} mark=0 use=1"
)
DNS_TCP_STALE = (
    "ipv4     2 tcp      6 {t} ESTABLISHED src=10.244.1.100 dst=10.96.0.10 "
    "sport={p} dport=53 src=10.244.1.22 dst=10.244.1.100 sport=53 dport={p} "
    "[ASSURED] mark=0 use=1"
)
WEB_OK = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.100 dst=10.96.0.20 sport={p} "
    "dport=80 src=10.244.1.11 dst=10.244.1.100 sport=8080 dport={p} [ASSURED] mark=0 "
    "use=1"
)
#: NodePort from the external host, DNAT'd to web2 and masqueraded to the node's pod gateway.
WEB_NODEPORT = (
    "ipv4     2 tcp      6 431998 ESTABLISHED src=198.18.0.100 dst=198.18.0.11 "
    "sport={p} dport=30080 src=10.244.1.12 dst=10.244.1.1 sport=8080 dport={p} "
    "[ASSURED] mark=0 use=1"
)
#: missing_dnat: the ClusterIP rule is gone; the SYN leaves untranslated and is never answered.
WEB_UNTRANSLATED = (
    "ipv4     2 tcp      6 118 SYN_SENT src=10.244.1.100 dst=10.96.0.20 "
    "sport={p} dport=80 [UNREPLIED] src=10.96.0.20 dst=10.244.1.100 sport=80 "
    "dport={p} mark=0 use=1"
)
#: NodePort without its rule, on the node's address.
WEB_NODEPORT_UNTRANSLATED = (
    "ipv4     2 tcp      6 118 SYN_SENT src=198.18.0.100 "
    "dst=198.18.0.11 sport={p} dport=30080 [UNREPLIED] src=198.18.0.11 "
    "dst=198.18.0.100 sport=30080 dport={p} mark=0 use=1"
)
#: Forwarded traffic to another host's port 30080: no Service flow of this node.
FORWARDED_30080 = (
    "ipv4     2 tcp      6 118 SYN_SENT src=10.244.1.100 dst=203.0.113.7 "
    "sport={p} dport=30080 [UNREPLIED] src=203.0.113.7 dst=198.18.0.11 "
    "sport=30080 dport={p} mark=0 use=1"
)
WEB_WRONG_PORT = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.100 dst=10.96.0.20 "
    "sport={p} dport=80 src=10.244.1.11 dst=10.244.1.100 sport=8081 dport={p} "
    "[ASSURED] mark=0 use=1"
)
#: OVN-Kubernetes, one host -> ClusterIP flow as a chain: host zone 0 (untranslated), gateway
#: zone 64001 (SNAT to 169.254.169.2), then the DNAT in the gateway router's zone (zone-orig).
OVN_CHAIN = (
    "ipv4     2 tcp      6 431998 ESTABLISHED src=198.18.0.11 dst=10.96.0.20 sport={p} "
    "dport=80 src=10.96.0.20 dst=198.18.0.11 sport=80 dport={p} [ASSURED] mark=0 use=1",
    "ipv4     2 tcp      6 431998 ESTABLISHED src=198.18.0.11 dst=10.96.0.20 sport={p} "
    "dport=80 src=10.96.0.20 dst=169.254.169.2 sport=80 dport={p} [ASSURED] mark=0 "
    "zone=64001 use=1",
    "ipv4     2 tcp      6 431998 ESTABLISHED src=169.254.169.2 dst=10.96.0.20 sport={p} "
    "dport=80 zone-orig=9 src=10.244.1.11 dst=169.254.169.2 sport=8080 dport={p} [ASSURED] "
    "mark=0 use=1",
)
#: unreplied_flood: SYNs and UDP DNAT'd to the sink, which drops everything.
HOLE_TCP = (
    "ipv4     2 tcp      6 117 SYN_SENT src=10.244.1.100 dst=10.96.0.99 sport={p} "
    "dport=9000 [UNREPLIED] src=10.244.1.31 dst=10.244.1.100 sport=9000 dport={p} "
    "mark=0 use=1"
)
HOLE_UDP = (
    "ipv4     2 udp      17 28 src=10.244.1.100 dst=10.96.0.99 sport={p} dport=9001 "
    "[UNREPLIED] src=10.244.1.31 dst=10.244.1.100 sport=9001 dport={p} mark=0 use=1"
)
DNS_UNANSWERED = (
    "ipv4     2 udp      17 28 src=10.244.1.100 dst=10.96.0.10 sport={p} "
    "dport=53 [UNREPLIED] src=10.244.1.21 dst=10.244.1.100 sport=53 dport={p} "
    "mark=0 use=1"
)
UNRELATED = ("ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.100 dst=10.244.1.11 "
             "sport={p} dport=8080 src=10.244.1.11 dst=10.244.1.100 sport=8080 dport={p} "
             "[ASSURED] mark=0 use=1")  # fmt: skip


def lines(template: str, count: int, first: int = 40000, timeout: int = 29) -> list[str]:
    return [template.format(p=first + k, t=timeout - k % 7) for k in range(count)]


def index(*groups: list[str], node_ips: tuple[str, ...] = NODE_IPS) -> tuple[ServiceFlows, str]:
    text = "".join(f"{line}\n" for group in groups for line in group)
    table = parse_listing(text)
    assert len(table) == text.count("\n") and not table.diagnostics.malformed
    return index_service_flows(table, SERVICES, node_ips=node_ips), text


HEALTHY = (lines(DNS_OK, 6), lines(DNS_OK_V6, 2, 41000), lines(WEB_OK, 5, 42000),
           lines(WEB_NODEPORT, 2, 43000), lines(UNRELATED, 4, 44000))  # fmt: skip


# --- test_service_dnat --------------------------------------------------------------------------


def test_healthy_translations_pass_with_counts_and_zone() -> None:
    flows, _ = index(*HEALTHY)
    dns = service_dnat_verdict(flows, "default/dns:53/udp")
    assert dns.level is Level.PASS
    assert dns.finding == (
        "default/dns:53/udp: 8 entries towards 10.96.0.10:53, [fd00:10:96::a]:53/udp are DNAT'd "
        "to serving endpoints (10.244.1.21:53 (6), [fd00:10:244:1::15]:53 (2); serving: "
        "10.244.1.21:53, [fd00:10:244:1::15]:53, 10.244.1.23:53); evidence in zone 0 (8)"
    )
    assert dns.source.startswith("kube-proxy Service NAT")
    assert dict(dns.figures)["served"] == 8
    web = service_dnat_verdict(flows, "default/web:80/tcp")
    assert web.level is Level.PASS
    assert "7 entries towards 10.96.0.20:80/tcp and NodePort 30080" in web.finding
    assert "10.244.1.11:8080 (5), 10.244.1.12:8080 (2)" in web.finding


def test_no_entry_passes_and_says_it_proves_nothing() -> None:
    flows, _ = index(lines(UNRELATED, 3))
    verdict = service_dnat_verdict(flows, "default/dns:53/tcp")
    assert verdict.level is Level.PASS
    assert "no entry towards 10.96.0.10:53, [fd00:10:96::a]:53/tcp in any zone" in verdict.finding
    assert "not verified" in verdict.finding
    assert "an empty table does not prove there was no traffic" in verdict.finding


def test_missing_dnat_fails_with_the_untranslated_entries_as_evidence() -> None:
    flows, _ = index(lines(WEB_OK, 3), lines(WEB_UNTRANSLATED, 25, 45000))
    verdict = service_dnat_verdict(flows, "default/web:80/tcp", evidence_limit=20)
    assert verdict.level is Level.FAIL
    assert "25 of 28 entries are not translated (reply source is the Service address itself: " \
        "the Service rule is missing)" in verdict.finding  # fmt: skip
    assert verdict.finding.endswith("evidence in zone 0 (28)")
    assert verdict.evidence == tuple(lines(WEB_UNTRANSLATED, 20, 45000))
    assert verdict.evidence_total == 25
    assert verdict.remedy is not None and "conntrack -D" in verdict.remedy.action
    # Exactly the right check: these entries are neither stale nor blackholed endpoints.
    assert stale_dnat_verdict(flows, "default/web:80/tcp").level is Level.PASS
    assert unreplied_services_verdict(flows, "default/web:80/tcp").level is Level.PASS


def test_untranslated_node_port_counts_only_on_node_addresses() -> None:
    groups = (lines(WEB_NODEPORT_UNTRANSLATED, 2), lines(FORWARDED_30080, 3, 46000))
    flows, _ = index(*groups)
    verdict = service_dnat_verdict(flows, "default/web:80/tcp")
    assert verdict.level is Level.FAIL
    assert "2 of 2 entries are not translated" in verdict.finding
    # Without the node's addresses an untranslated NodePort entry cannot be told from
    # forwarded traffic to another host's port: it is not attributed.
    blind, _ = index(*groups, node_ips=())
    assert service_dnat_verdict(blind, "default/web:80/tcp").level is Level.PASS
    assert blind.counts.sum() == 0


def test_translation_to_a_port_the_endpoint_does_not_serve_fails() -> None:
    flows, _ = index(lines(WEB_OK, 2), lines(WEB_WRONG_PORT, 3, 47000))
    verdict = service_dnat_verdict(flows, "default/web:80/tcp")
    assert verdict.level is Level.FAIL
    assert "3 entries are DNAT'd to 10.244.1.11:8081, a port the endpoint does not serve" in (
        verdict.finding
    )
    assert verdict.evidence == tuple(lines(WEB_WRONG_PORT, 3, 47000))
    assert stale_dnat_verdict(flows, "default/web:80/tcp").level is Level.PASS


def test_ovn_chain_across_zones_counts_as_translated() -> None:
    chain = [t.format(p=48000 + k) for k in range(2) for t in OVN_CHAIN]
    flows, _ = index(chain)
    k = flows.position("default/web:80/tcp")
    assert flows.zones[k] == {0: 2, 9: 2, 64001: 2}
    assert flows.counts[k, FlowClass.CHAIN] == 4 and flows.counts[k, FlowClass.SERVED] == 2
    verdict = service_dnat_verdict(flows, "default/web:80/tcp")
    assert verdict.level is Level.PASS
    assert "also 4 untranslated links of flows translated in another zone" in verdict.finding
    assert verdict.finding.endswith("evidence in zones 0 (2), 9 (2), 64001 (2)")


def test_untranslated_beside_translated_in_the_same_zone_is_missing_dnat() -> None:
    """OVN: a zone that translates the Service must translate all of its flows."""
    chain = [t.format(p=48000) for t in OVN_CHAIN]
    late = WEB_UNTRANSLATED.replace("mark=0 use=1", "mark=0 zone=9 use=1").format(p=48100)
    flows, _ = index(chain, [late])
    k = flows.position("default/web:80/tcp")
    assert flows.counts[k, FlowClass.UNTRANSLATED] == 1
    assert flows.counts[k, FlowClass.CHAIN] == 2
    assert service_dnat_verdict(flows, "default/web:80/tcp").level is Level.FAIL


# --- test_stale_dnat ----------------------------------------------------------------------------


def test_stale_udp_fails_with_flows_counts_and_timeouts() -> None:
    flows, _ = index(lines(DNS_OK, 4), lines(DNS_STALE, 3, 40053, timeout=119),
                        lines(DNS_STALE_UNREPLIED, 2, 40100, timeout=25),
                        lines(DNS_TERMINATING, 2, 40200))  # fmt: skip
    verdict = stale_dnat_verdict(flows, "default/dns:53/udp")
    assert verdict.level is Level.FAIL
    assert verdict.finding == (
        "default/dns:53/udp: 5 UDP entries towards 10.96.0.10:53, [fd00:10:96::a]:53/udp are "
        "DNAT'd to 10.244.1.22 (5), no serving endpoint (serving: 10.244.1.21:53, "
        "[fd00:10:244:1::15]:53, 10.244.1.23:53); the longest has 119 s left and every packet "
        "the client sends renews it, so the blackhole lasts as long as it sends; zone 0 (5)"
    )
    assert verdict.evidence[0] == "reply source 10.244.1.22: 5 entries, longest 119 s left"
    assert verdict.evidence[1:] == (
        "udp 10.244.1.100:40053 -> 10.96.0.10:53 DNAT to 10.244.1.22:53, zone 0, 119 s left",
        "udp 10.244.1.100:40054 -> 10.96.0.10:53 DNAT to 10.244.1.22:53, zone 0, 118 s left",
        "udp 10.244.1.100:40055 -> 10.96.0.10:53 DNAT to 10.244.1.22:53, zone 0, 117 s left",
        "udp 10.244.1.100:40100 -> 10.96.0.10:53 DNAT to 10.244.1.22:53, zone 0, 25 s left "
        "[UNREPLIED]",
        "udp 10.244.1.100:40101 -> 10.96.0.10:53 DNAT to 10.244.1.22:53, zone 0, 24 s left "
        "[UNREPLIED]",
    )
    assert verdict.evidence_total == 6
    assert dict(verdict.figures) == {"stale": 5.0, "longest_timeout": 119.0}
    assert verdict.remedy is not None
    action = verdict.remedy.action
    # The exact conntrack-tools 1.4.7 flags, one command per Service address of the family.
    assert "conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src " \
        "10.244.1.22" in action  # fmt: skip
    assert "fd00:10:96::a" not in action
    assert "kubernetes#139629" in action
    assert "kube-proxy's conntrack reconciler rule" in verdict.source
    # Stale entries are not the DNAT check's failure, nor blackholed ready endpoints.
    assert service_dnat_verdict(flows, "default/dns:53/udp").level is Level.PASS
    assert unreplied_services_verdict(flows, "default/dns:53/udp").level is Level.PASS


def test_stale_ipv6_gets_its_own_family_command() -> None:
    flows, _ = index(lines(DNS_OK_V6, 1), lines(DNS_STALE_V6, 2, 41500))
    verdict = stale_dnat_verdict(flows, "default/dns:53/udp")
    assert verdict.level is Level.FAIL
    assert "DNAT'd to fd00:10:244:1::16 (2)" in verdict.finding
    assert verdict.evidence[1].startswith(
        "udp [fd00:10:244:1::64]:41500 -> [fd00:10:96::a]:53 DNAT to [fd00:10:244:1::16]:53"
    )
    assert verdict.remedy is not None
    assert "conntrack -D -p udp --orig-dst fd00:10:96::a --orig-port-dst 53 --reply-src " \
        "fd00:10:244:1::16" in verdict.remedy.action  # fmt: skip
    assert "--orig-dst 10.96.0.10" not in verdict.remedy.action


def test_stale_tcp_warns() -> None:
    flows, _ = index(lines(DNS_TCP_STALE, 2, timeout=431999))
    verdict = stale_dnat_verdict(flows, "default/dns:53/tcp")
    assert verdict.level is Level.WARN
    assert "2 TCP entries" in verdict.finding
    assert "the longest has 431,999 s left and the connection is dead" in verdict.finding


def test_stale_through_a_node_port_names_the_node_port_command() -> None:
    stale = WEB_NODEPORT.replace("src=10.244.1.12", "src=10.244.1.19")  # web2's successor gone
    flows, _ = index(lines(stale, 1))
    verdict = stale_dnat_verdict(flows, "default/web:80/tcp")
    assert verdict.level is Level.WARN
    assert verdict.remedy is not None
    assert "conntrack -D -p tcp --orig-port-dst 30080 --reply-src 10.244.1.19" in (
        verdict.remedy.action
    )


def test_no_stale_entry_passes_and_terminating_endpoints_are_not_stale() -> None:
    flows, _ = index(lines(DNS_TERMINATING, 3), *HEALTHY)
    verdict = stale_dnat_verdict(flows, "default/dns:53/udp")
    assert verdict.level is Level.PASS
    assert verdict.finding.startswith("default/dns:53/udp: no entry towards 10.96.0.10:53")


# --- test_unreplied_services ----------------------------------------------------------------------


def test_blackholed_tcp_endpoint_fails() -> None:
    flows, _ = index(lines(HOLE_TCP, 30), *HEALTHY)
    verdict = unreplied_services_verdict(flows, "default/blackhole:9000/tcp", evidence_limit=5)
    assert verdict.level is Level.FAIL
    assert verdict.finding == (
        "default/blackhole:9000/tcp: 30 of 30 entries DNAT'd to serving endpoints of "
        "10.96.0.99:9000/tcp are [UNREPLIED]; endpoints that do not answer: 10.244.1.31:9000: "
        "30 of 30 [UNREPLIED] (100.0%)"
    )
    assert verdict.evidence[0] == "10.244.1.31:9000: 30 of 30 [UNREPLIED] (100.0%)"
    assert verdict.evidence[1:] == tuple(lines(HOLE_TCP, 5))
    assert verdict.evidence_total == 31
    # Only that check: the translation itself is right and the endpoint is ready.
    assert service_dnat_verdict(flows, "default/blackhole:9000/tcp").level is Level.PASS
    assert stale_dnat_verdict(flows, "default/blackhole:9000/tcp").level is Level.PASS


def test_blackholed_udp_warns_except_on_dns() -> None:
    flows, _ = index(lines(HOLE_UDP, 30), lines(DNS_UNANSWERED, 10, 46000), lines(DNS_OK, 2))
    udp = unreplied_services_verdict(flows, "default/blackhole:9001/udp")
    assert udp.level is Level.WARN
    assert "a one-way protocol such as statsd or syslog never answers" in udp.finding
    dns = unreplied_services_verdict(flows, "default/dns:53/udp")
    assert dns.level is Level.FAIL
    assert "10.244.1.21:53: 10 of 12 [UNREPLIED] (83.3%)" in dns.finding


def test_one_dead_endpoint_among_healthy_ones_fails() -> None:
    dead = WEB_OK.replace("src=10.244.1.11", "src=10.244.1.12").replace(
        " src=10.244.1.12", " [UNREPLIED] src=10.244.1.12").replace("ESTABLISHED", "SYN_SENT") \
        .replace(" [ASSURED]", "")  # fmt: skip
    flows, _ = index(lines(WEB_OK, 40), lines(dead, 8, 49000))
    verdict = unreplied_services_verdict(flows, "default/web:80/tcp")
    assert verdict.level is Level.FAIL
    assert "8 of 48 entries" in verdict.finding
    assert "10.244.1.12:8080: 8 of 8 [UNREPLIED] (100.0%)" in verdict.finding
    assert "10.244.1.11" not in verdict.finding.split("do not answer")[1]


def test_unreplied_count_alone_warns_and_thresholds_are_quoted() -> None:
    flows, _ = index(lines(DNS_UNANSWERED, 6), lines(DNS_OK, 20, 46000))
    verdict = unreplied_services_verdict(flows, "default/dns:53/udp")
    assert verdict.level is Level.WARN
    assert "> 5 entries and > 0.5 of its entries" in verdict.threshold
    assert verdict.source.startswith("ctdiag default (a blackholed endpoint never answers")
    quiet = unreplied_services_verdict(flows, "default/dns:53/udp", max_count=6)
    assert quiet.level is Level.PASS and quiet.evidence == () and quiet.remedy is None
    assert quiet.source.startswith("set for this run (default 5 and 0.5: ctdiag default")


# --- Cilium, report rows ------------------------------------------------------------------------

CILIUM_LINKS_TEXT = (
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT\\    "
    "link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "5: cilium_net@cilium_host: <BROADCAST,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc noqueue "
    "state UP\\    link/ether 8a:c1:1e:3c:5f:01 brd ff:ff:ff:ff:ff:ff \\    veth\n"
    "6: cilium_host@cilium_net: <BROADCAST,MULTICAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc noqueue "
    "state UP\\    link/ether 9e:4f:3a:b1:02:11 brd ff:ff:ff:ff:ff:ff \\    veth\n"
    "7: cilium_vxlan: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UNKNOWN\\"
    "    link/ether 1a:2b:3c:4d:5e:6f brd ff:ff:ff:ff:ff:ff \\    vxlan external id 0 srcport "
    "0 0 dstport 8472 nolearning ttl auto ageing 300\n"
)


def test_cilium_kube_proxy_replacement_skips_the_dnat_checks() -> None:
    links = link_names(CILIUM_LINKS_TEXT)
    assert links == ("lo", "cilium_net", "cilium_host", "cilium_vxlan")
    applies, reason = service_nat_in_conntrack(links, service_dnat_seen=False)
    assert not applies
    assert reason.startswith(
        "Cilium kube-proxy replacement: Services are translated in eBPF, not in nf_conntrack"
    )
    assert service_nat_in_conntrack(links, service_dnat_seen=True)[0]
    plain = link_names(data("links-overlays.txt"))
    assert "flannel.1" in plain
    assert service_nat_in_conntrack(plain, service_dnat_seen=False)[0]
    flows, _ = index(*HEALTHY)
    assert flows.translated == 15


def test_dnat_rows_for_the_report() -> None:
    flows, _ = index(*HEALTHY, lines(DNS_STALE, 2, 40053), lines(HOLE_TCP, 3),
                     lines(WEB_UNTRANSLATED, 1, 45000))  # fmt: skip
    rows = {row.port_id: row for row in dnat_rows(flows)}
    assert list(rows) == [p.id for s in SERVICES for p in s.expected_ports()]
    dns = rows["default/dns:53/udp"]
    assert dns.expected == ("10.244.1.21:53", "[fd00:10:244:1::15]:53")
    assert [(str(r), r.entries, r.serving) for r in dns.observed] == [
        ("10.244.1.21:53", 6, True), ("10.244.1.22:53", 2, False),
        ("[fd00:10:244:1::15]:53", 2, True),
    ]  # fmt: skip
    assert (dns.entries, dns.stale, dns.unreplied, dns.untranslated) == (10, 2, 0, 0)
    assert dns.zones == (0,)
    hole = rows["default/blackhole:9000/tcp"]
    assert (hole.entries, hole.unreplied, hole.target) == (3, 3, "10.96.0.99:9000/tcp")
    web = rows["default/web:80/tcp"]
    assert (web.entries, web.untranslated, web.wrong_port) == (8, 1, 0)


# --- vectorised matching agrees with a per-entry reading ------------------------------------------

ADDRESSES = [
    "10.96.0.10",
    "10.96.0.20",
    "10.96.0.99",
    "198.18.0.11",
    "203.0.113.7",
    "10.244.1.11",
    "10.244.1.12",
    "10.244.1.21",
    "10.244.1.22",
    "10.244.1.31",
]
PORTS = [53, 80, 8080, 8081, 9000, 9001, 30080]


def naive(services: tuple[ExpectedService, ...], text: str) -> dict[int, tuple[str, FlowClass]]:
    """Each entry's Service port and class, one entry at a time, straight from the rules."""
    ports = [p for s in services for p in s.expected_ports()]
    service_ips = {a for s in services for a in s.addresses}
    table = parse_listing(text)
    found: dict[int, tuple[int, bool, int]] = {}
    for i, e in enumerate(table):
        o = e.orig
        hit = next(
            (
                k
                for k, p in enumerate(ports)
                if o.dst in p.service.addresses
                and o.dport == p.port.port
                and e.protonum == p.port.protocol.number
            ),
            None,
        )
        if hit is None and o.dst not in service_ips and (e.dnat or o.dst in NODE_IPS):
            hit = next((k for k, p in enumerate(ports) if p.port.node_port == o.dport
                        and e.protonum == p.port.protocol.number), None)  # fmt: skip
        if hit is not None:
            zone = o.zone if o.zone is not None else e.zone
            found[i] = (hit, e.dnat, zone)
    result = {}
    for i, (k, dnat, zone) in found.items():
        e, serving = table.entry(i), ports[k].port.serving_endpoints
        if dnat:
            ips = {s.ip for s in serving}
            cls = (FlowClass.SERVED if (e.reply.src, e.reply.sport) in {(s.ip, s.port)
                   for s in serving} else FlowClass.WRONG_PORT if e.reply.src in ips
                   else FlowClass.STALE)  # fmt: skip
        else:
            zones = {z for _, (kk, d, z) in found.items() if kk == k and d}
            cls = FlowClass.CHAIN if zones and zone not in zones else FlowClass.UNTRANSLATED
        result[i] = (ports[k].id, cls)
    return result


@st.composite
def listings(draw: st.DrawFn) -> str:
    out = []
    for n in range(draw(st.integers(0, 40))):
        proto = draw(st.sampled_from(["tcp", "udp"]))
        dst, dport = draw(st.sampled_from(ADDRESSES)), draw(st.sampled_from(PORTS))
        src, sport = draw(st.sampled_from([*ADDRESSES, dst])), draw(st.sampled_from(PORTS))
        if draw(st.booleans()):
            src, sport = dst, dport  # untranslated
        zone = draw(st.sampled_from(["", " zone=9", " zone=64001"]))
        unreplied = " [UNREPLIED]" if draw(st.booleans()) else ""
        state = " SYN_SENT" if proto == "tcp" else ""
        num = 6 if proto == "tcp" else 17
        out.append(f"ipv4     2 {proto:<8} {num} 30{state} src=10.244.1.100 dst={dst} "
                   f"sport={20000 + n} dport={dport}{unreplied} src={src} dst=10.244.1.100 "
                   f"sport={sport} dport={20000 + n} mark=0{zone} use=1\n")  # fmt: skip
    return "".join(out)


@settings(max_examples=150, deadline=None)
@given(listings())
def test_vectorised_classification_agrees_with_per_entry_rules(text: str) -> None:
    flows = index_service_flows(parse_listing(text), SERVICES, node_ips=NODE_IPS)
    vectorised = {int(i): (p.id, cls) for k, p in enumerate(flows.ports) for cls in FlowClass
                  for i in flows.class_rows(k, cls)}  # fmt: skip
    assert vectorised == naive(SERVICES, text)
    for k in range(len(flows.ports)):
        rows = np.concatenate([flows.class_rows(k, cls) for cls in FlowClass])
        assert len(rows) == flows.counts[k].sum() == sum(flows.zones[k].values())
        for cls in FlowClass:
            assert list(flows.class_rows(k, cls)) == sorted(flows.class_rows(k, cls))


def test_a_million_entries_and_300_more_service_ports_in_one_pass() -> None:
    """Columns, not a Python loop per entry and Service: a 1M-row table indexes in seconds."""
    small_flows, _ = index(*HEALTHY, lines(DNS_STALE, 3, 40053), lines(HOLE_TCP, 4))
    small = small_flows.table
    reps = 1_000_000 // len(small) + 1
    big = ConntrackTable(
        {n: np.tile(c, (reps,) + (1,) * (c.ndim - 1)) for n, c in small.columns.items()},
        small.dictionaries,
    )
    many = tuple(
        ExpectedService("load", f"svc{k}", (f"10.97.{k // 250}.{k % 250}",), SERVICES[1].ports)
        for k in range(300)
    )
    start = time.perf_counter()
    flows = index_service_flows(big, (*SERVICES, *many), node_ips=NODE_IPS)
    verdicts = [f(flows, p.id) for p in flows.ports for f in
                (service_dnat_verdict, stale_dnat_verdict, unreplied_services_verdict)]  # fmt: skip
    elapsed = time.perf_counter() - start
    assert len(verdicts) == 3 * len(flows.ports)
    assert (flows.counts[: len(small_flows.ports)] == small_flows.counts * reps).all()
    assert elapsed < 10, f"{elapsed:.1f} s"


def test_node_addresses_from_ip_o_addr_show() -> None:
    text = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n"
        "4: eth0    inet 198.18.0.11/24 brd 198.18.0.255 scope global eth0\\       valid_lft\n"
        "4: eth0    inet6 fd00:0:0:0::0002/64 scope global \\       valid_lft forever\n"
        "4: eth0    inet 198.18.0.11/24 scope global secondary eth0\n"
    )
    assert node_addresses(text) == ("127.0.0.1", "::1", "198.18.0.11", "fd00::2")
    assert node_addresses("") == ()
