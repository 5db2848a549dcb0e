"""kube-proxy's nftables mode: its Service addresses and endpoints are probe targets, read
from what the kernel prints (``nft list ruleset`` in a scratch namespace holding rules
shaped as kube-proxy writes them, pkg/proxy/nftables/proxier_test.go)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ctdiag.collect.runners import NetnsRunner
from ctdiag.model.probes import ProbeTargets
from ctdiag.probes.destinations import refusal
from ctdiag.probes.routed import nft_addresses, read_targets
from tests.collect.scratch_netns import ScratchNamespaces

pytestmark = pytest.mark.needs_root

#: Enough ClusterIPs that nft folds the ``elements`` over several lines.
CLUSTER_IPS = [f"172.30.{n // 250}.{n % 250 + 1}" for n in range(60)]
ENDPOINTS = ["10.180.0.1", "10.180.0.2"]

KUBE_PROXY_RULES = "\n".join([
    'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    "add chain ip kube-proxy mark-for-masquerade",
    "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000",
    "add chain ip kube-proxy services",
    "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
    "add rule ip kube-proxy nat-prerouting jump services",
    'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
    "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ;"
    ' comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
    "add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80",
    *(f"add chain ip kube-proxy endpoint-{n}-ns1/svc1/tcp/p80__{ip}/80"
      for n, ip in enumerate(ENDPOINTS)),
    "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 ip daddr 172.30.0.1 tcp dport 80"
    " ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
    "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 numgen random mod 2 vmap { "
    + " , ".join(f"{n} : goto endpoint-{n}-ns1/svc1/tcp/p80__{ip}/80"
                 for n, ip in enumerate(ENDPOINTS)) + " }",
    *(f"add rule ip kube-proxy endpoint-{n}-ns1/svc1/tcp/p80__{ip}/80 meta l4proto tcp"
      f" dnat to {ip}:80" for n, ip in enumerate(ENDPOINTS)),
    *(f"add element ip kube-proxy cluster-ips {{ {ip} }}" for ip in CLUSTER_IPS),
    *(f"add element ip kube-proxy service-ips {{ {ip} . tcp . 80 :"
      " goto service-ULMVA6XW-ns1/svc1/tcp/p80 }" for ip in CLUSTER_IPS[:3]),
    "add table ip6 kube-proxy",
    "add chain ip6 kube-proxy endpoint-X",
    "add rule ip6 kube-proxy endpoint-X meta l4proto udp dnat to [fd00:10:180::5]:53",
    "add map ip6 kube-proxy service-ips"
    " { type ipv6_addr . inet_proto . inet_service : verdict ; }",
    "add chain ip6 kube-proxy service-Y",
    "add element ip6 kube-proxy service-ips { fd00:10:96::a . udp . 53 : goto service-Y }",
    # Not kube-proxy's: a set of the same name elsewhere names no Service.
    "add table inet other",
    "add set inet other service-ips { type ipv4_addr ; }",
    "add element inet other service-ips { 192.0.2.99 }",
    "",
])  # fmt: skip


@pytest.fixture(scope="module")
def kube_proxy_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scratch namespace with kube-proxy's nftables rules loaded, deleted afterwards."""
    rules = tmp_path_factory.mktemp("nft") / "kube-proxy.nft"
    rules.write_text(KUBE_PROXY_RULES, encoding="ascii")
    ScratchNamespaces.sweep_abandoned()
    namespaces = ScratchNamespaces()
    try:
        node = namespaces.create("nft-kube-proxy")
        namespaces.exec(node, "nft", "-f", str(rules))
        yield node
    finally:
        namespaces.delete_all()


def test_kube_proxy_nftables_services_and_endpoints_are_targets(kube_proxy_node: str) -> None:
    targets = read_targets(NetnsRunner(kube_proxy_node))
    assert isinstance(targets, ProbeTargets)
    assert targets.service_addresses == {*CLUSTER_IPS, "fd00:10:96::a"}
    assert targets.pod_addresses == {*ENDPOINTS, "fd00:10:180::5"}
    assert refusal(targets, "172.30.0.60") is None and refusal(targets, "10.180.0.2") is None
    assert refusal(targets, "192.0.2.99") is not None  # another table's "service-ips"


def test_the_printed_ruleset_folds_elements_over_lines_and_none_is_lost(
    kube_proxy_node: str,
) -> None:
    printed = NetnsRunner(kube_proxy_node).run("nft", ("nft", "list", "ruleset"), timeout=10)
    assert printed.ok
    elements = [line for line in printed.text.splitlines() if "elements = {" in line]
    assert any("}" not in line for line in elements)  # folded: the case being tested
    services, _ = nft_addresses(printed.text)
    assert services == {*CLUSTER_IPS, "fd00:10:96::a"}


def test_nothing_of_kube_proxy_means_no_nft_target() -> None:
    ruleset = "table ip nat {\n\tchain POSTROUTING {\n\t\tmasquerade\n\t}\n}\n"
    assert nft_addresses(ruleset) == (set(), set())
