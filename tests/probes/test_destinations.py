"""Where probes may go (pure, no root): the decision over reported addresses and prefixes,
the self-tests' pod, and what a node's own routes and nat table say it routes."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from ctdiag.collect.plan import snapshot_plan
from ctdiag.errors import ProbeTargetError
from ctdiag.lab.rules import render
from ctdiag.lab.topology import default_lab
from ctdiag.model.outputs import CommandOutput, EntrySource, OutputName, Snapshot
from ctdiag.model.probes import ProbeTargets
from ctdiag.model.services import ExpectedService, ServiceEndpoint, ServicePort, ServiceProtocol
from ctdiag.probes.destinations import (
    TargetRole,
    check_target,
    refusal,
    self_test_target,
    target_role,
)
from ctdiag.probes.routed import (
    BASIS,
    OUTPUTS,
    ipvs_addresses,
    nat_addresses,
    pod_routes,
    routed_targets,
    snapshot_targets,
)

API = ProbeTargets(
    service_addresses=frozenset({"10.96.0.20", "fd00:10:96::a"}),
    pod_addresses=frozenset({"10.244.2.7", "fd00:10:244::5"}),
    pod_networks=(ipaddress.ip_network("10.244.1.0/24"), ipaddress.ip_network("fd00:10:245::/64")),
    basis="the API of lab reports",
)  # fmt: skip

#: The lab node's routes as `ip -o route show` prints them (ctdiag/lab/lifecycle.py): a
#: /32 per pod link, the uplink's own subnet (the external host 198.18.0.100 lives there),
#: the Service CIDR through the external host.
LAB_ROUTES = "".join(
    f"10.244.1.{n} dev ctdlab-{name} scope link \n"
    for n, name in ((11, "web1"), (12, "web2"), (21, "dns1"), (22, "dns2"), (31, "sink"),
                    (100, "client"))
) + (
    "10.96.0.0/16 via 198.18.0.100 dev ctdlab-up \n"
    "198.18.0.0/24 dev ctdlab-up proto kernel scope link src 198.18.0.11 \n"
)  # fmt: skip
LAB_ROUTES6 = "fe80::/64 dev ctdlab-up proto kernel metric 256 pref medium\n"
LAB_ADDRESSES = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "2: ctdlab-up    inet 198.18.0.11/24 scope global ctdlab-up\\       valid_lft forever\n"
    "3: ctdlab-web1    inet 10.244.1.1/32 scope global ctdlab-web1\\       valid_lft forever\n"
)


def _lab_targets(*, without_portal: tuple[str, ...] = ()) -> ProbeTargets:
    lab = default_lab()
    nat = render(lab, lab.services, without_portal=without_portal)
    return routed_targets(LAB_ROUTES, LAB_ROUTES6, LAB_ADDRESSES, nat)


@pytest.mark.parametrize(
    ("address", "role"),
    [
        ("10.96.0.20", TargetRole.SERVICE),
        ("FD00:10:96:0::A", TargetRole.SERVICE),
        ("10.244.2.7", TargetRole.POD),
        ("10.244.1.200", TargetRole.POD),  # in a node's pod CIDR
        ("fd00:10:245::99", TargetRole.POD),
        ("10.244.2.8", None),
        ("10.96.0.21", None),
        ("198.18.0.100", None),
        ("::ffff:10.244.1.5", None),  # an IPv6 address is never in an IPv4 pod CIDR
    ],
)
def test_an_address_is_what_the_reports_say(address: str, role: TargetRole | None) -> None:
    assert target_role(API, address) is role


def test_refusals_are_one_line_naming_the_address_and_who_reports() -> None:
    assert refusal(API, "10.96.0.20") is None and refusal(API, "10.244.1.9") is None
    assert refusal(API, "198.18.0.100") == (
        "198.18.0.100 is neither a Service address nor a pod address the API of lab reports"
    )
    assert refusal(API, "10.96.0.20", pod_only=True) == (
        "10.96.0.20 is a Service address, not a pod address the API of lab reports"
    )
    assert refusal(API, "10.0.0.1", pod_only=True) == (
        "10.0.0.1 is not a pod address the API of lab reports"
    )
    assert refusal(API, "fe80::1%eth0") == "not an IPv4 or IPv6 address: 'fe80::1%eth0'"
    assert check_target(API, "FD00:10:96::A") == "fd00:10:96::a"
    with pytest.raises(ProbeTargetError, match=r"^probe refused: 8\.8\.8\.8 is neither"):
        check_target(API, "8.8.8.8")


def test_the_self_tests_aim_at_the_first_ready_endpoint_that_is_a_reported_pod() -> None:
    svc = ExpectedService("default", "web", ("10.96.0.20",), (
        ServicePort(80, ServiceProtocol.TCP, 8080, (
            ServiceEndpoint("198.18.0.100", 8080),            # named by the file, no pod
            ServiceEndpoint("10.244.2.8", 8080, ready=False),
            ServiceEndpoint("10.244.1.40", 8080),
        )),
    ))  # fmt: skip
    assert self_test_target(API, svc.expected_ports()) == "10.244.1.40"
    assert self_test_target(API, ()) == "10.244.2.7"  # the lowest reported pod address
    nothing = ProbeTargets(frozenset({"10.96.0.20"}), frozenset(), (), BASIS)
    assert self_test_target(nothing, svc.expected_ports()) is None


def test_the_lab_node_routes_its_services_and_pods_not_its_neighbours() -> None:
    targets = _lab_targets()
    assert targets.service_addresses == {"10.96.0.20", "10.96.0.10"}
    lab_pods = {pod.ip for pod in default_lab().pods}
    assert targets.pod_addresses == lab_pods  # every pod route, endpoints among them
    assert targets.pod_networks == () and targets.basis == "this node routes"
    # The case: the external host on the uplink's subnet is no target.
    assert refusal(targets, "198.18.0.100") == (
        "198.18.0.100 is neither a Service address nor a pod address this node routes"
    )
    for foreign in ("198.18.0.11", "10.244.1.1", "10.96.0.99", "10.244.1.13"):
        assert target_role(targets, foreign) is None, foreign


def test_a_service_whose_portal_rule_is_missing_is_still_a_service_of_the_node() -> None:
    # missing_dnat drops the KUBE-SERVICES rule only: kube-proxy's KUBE-SVC chain still
    # matches the ClusterIP, so the probe is sent and shows the missing translation.
    assert "10.96.0.20" in _lab_targets(without_portal=("web",)).service_addresses


NAT = """\
# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -d 10.96.0.30/32 -p udp -m udp --dport 5000 -j DNAT --to-destination 10.244.1.31:5000
-A OUTPUT -d 192.0.2.0/24 -p tcp -j DNAT --to-destination 10.244.1.40
-A OUTPUT -d 192.0.2.77/32 -p tcp -j ACCEPT
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A DOCKER -p tcp --dport 81 -j DNAT --to-destination 172.17.0.3-172.17.0.9:80
-A DOCKER -p tcp --dport 82 -j DNAT --to-destination :8082
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https \\"x\\"" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SEP-X -p tcp -m comment --comment "unbalanced quote -m tcp -j DNAT --to-destination 10.244.3.3:6443
COMMIT
"""  # noqa: E501


def test_nat_services_are_kube_proxy_and_dnat_host_matches_endpoints_single_targets() -> None:
    services, endpoints = nat_addresses(NAT)
    # 127.0.0.0/8 is negated, 192.0.2.0/24 a prefix, 192.0.2.77 no translation.
    assert services == {"10.96.0.30", "10.96.0.1"}
    # Ranges and port-only targets name no single address.
    assert endpoints == {"10.244.1.31", "10.244.1.40", "172.17.0.2", "10.244.3.3"}


def test_ipv6_dnat_targets_and_ipvs_service_addresses() -> None:
    _, endpoints = nat_addresses(
        "-A KUBE-SEP-Y -p udp -j DNAT --to-destination [fd00:10:244::9]:53\n"
        "-A KUBE-SEP-Z -p udp -j DNAT --to-destination fd00:10:244::a\n"
    )
    assert endpoints == {"fd00:10:244::9", "fd00:10:244::a"}
    addresses = (
        "7: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\\       valid_lft\n"
        "7: kube-ipvs0    inet6 fd00:10:96::a/128 scope global \\       valid_lft forever\n"
        "2: eth0    inet 192.168.1.5/24 brd 192.168.1.255 scope global eth0\\       valid\n"
    )
    assert ipvs_addresses(addresses) == {"10.96.0.10", "fd00:10:96::a"}
    ipvs = routed_targets("", "", addresses, "")
    assert ipvs.service_addresses == {"10.96.0.10", "fd00:10:96::a"}


#: A dual-stack Service's IPv6 half as kube-proxy's iptables mode writes it (ip6tables-save).
NAT6 = (
    "*nat\n:KUBE-SERVICES - [0:0]\n"
    "-A KUBE-SERVICES -d fd00:10:96::a/128 -p udp -m comment --comment \"kube-system/kube-dns:dns"
    ' cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOIFZTEO4E6SL7F\n'
    "-A KUBE-SEP-6 -p udp -m comment --comment kube-system/kube-dns:dns -m udp -j DNAT "
    "--to-destination [fd00:10:244:1::15]:53\nCOMMIT\n"
)


def test_ipv6_services_come_from_ip6tables_nat_beside_the_ipv4_ones() -> None:
    lab = default_lab()
    nat = render(lab, lab.services)
    both = routed_targets(LAB_ROUTES, LAB_ROUTES6, LAB_ADDRESSES, nat, NAT6)
    assert both.service_addresses == _lab_targets().service_addresses | {"fd00:10:96::a"}
    assert both.pod_addresses == _lab_targets().pod_addresses | {"fd00:10:244:1::15"}
    assert refusal(both, "fd00:10:96::a") is None
    assert refusal(_lab_targets(), "fd00:10:96::a") is not None  # IPv4 rules alone: refused
    outputs = (_output(OutputName.RULES_NAT, nat), _output(OutputName.RULES6_NAT, NAT6))
    assert snapshot_targets(_snapshot(*outputs)).service_addresses == {
        "10.96.0.20", "10.96.0.10", "fd00:10:96::a"}  # fmt: skip


@pytest.mark.parametrize(
    ("routes", "routes6", "pods"),
    [
        pytest.param(  # Calico: a /32 per local pod on its cali link, other blocks via tunl0
            "default via 192.168.1.1 dev eth0 proto dhcp src 192.168.1.5 metric 100 \n"
            "192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.5 \n"
            "192.168.1.1 dev eth0 proto dhcp scope link src 192.168.1.5 metric 100 \n"
            "blackhole 10.244.1.0/26 proto bird \n"
            "10.244.1.5 dev cali12345 scope link \n"
            "10.244.2.0/26 via 192.168.1.12 dev tunl0 proto bird onlink \n",
            "", {"10.244.1.5"}, id="calico"),
        pytest.param(  # flannel: local pods behind the cni0 bridge's own subnet: none routed
            "default via 192.168.1.1 dev eth0 \n"
            "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1 \n"
            "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink \n",
            "", set(), id="flannel"),
        pytest.param(  # a static host route on the uplink is a neighbour, not a pod
            "192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.5 \n"
            "192.168.1.77 dev eth0 scope link \n"
            "10.1.0.0/16 \\\tnexthop via 192.168.1.12 dev eth0 weight 1 \\\tnexthop via "
            "192.168.1.13 dev eth0 weight 1 \n"
            "10.244.1.9 dev lo scope link \n",
            "", set(), id="uplink-host-route"),
        pytest.param(  # a multipath default route makes both its devices uplinks
            "default proto static \\\tnexthop via 10.0.0.1 dev bond0 weight 1 \\\tnexthop via "
            "10.0.1.1 dev bond1 weight 1 \n"
            "10.0.0.1 dev bond0 scope link \n"
            "10.0.1.1 dev bond1 scope link \n"
            "10.244.1.5 dev lxc1 scope link \n",
            "", {"10.244.1.5"}, id="multipath-default"),
        pytest.param(  # IPv6: host routes carry no scope; every link has its fe80::/64
            "",
            "fd00:1::/64 dev eth0 proto kernel metric 256 pref medium\n"
            "fe80::/64 dev eth0 proto kernel metric 256 pref medium\n"
            "fe80::/64 dev cali1 proto kernel metric 256 pref medium\n"
            "fd00:10:244::5 dev cali1 metric 1024 pref medium\n"
            "fd00:1::99 dev eth0 metric 1024 pref medium\n"
            "default via fe80::1 dev eth0 proto ra metric 1024 expires 1797sec pref medium\n",
            {"fd00:10:244::5"}, id="ipv6"),
    ],
)
def test_pod_routes_are_host_routes_on_pod_links(routes: str, routes6: str, pods: set[str]) -> None:
    assert pod_routes(routes, routes6) == pods


def test_nothing_read_means_nothing_may_be_probed() -> None:
    targets = routed_targets("", "", "", "")
    assert targets.empty
    assert refusal(targets, "10.96.0.20") is not None


def test_the_snapshot_plan_collects_every_output_the_targets_are_read_from() -> None:
    plan = {command.name: command.argv for command in snapshot_plan("1.4.7")}
    assert set(OUTPUTS) <= set(plan)
    assert plan[OutputName.ROUTES] == ("ip", "-o", "route", "show")
    assert plan[OutputName.ROUTES6] == ("ip", "-o", "-6", "route", "show")
    assert plan[OutputName.RULES6_NAT] == ("ip6tables-save", "-t", "nat")


def _output(name: str, text: str, status: int = 0) -> CommandOutput:
    return CommandOutput(name, ("x",), status, text.encode(), b"", datetime.now(UTC), 0.0)


def _snapshot(*outputs: CommandOutput) -> Snapshot:
    return Snapshot("n", "6.1", "1.4.7", datetime.now(UTC), EntrySource.CONNTRACK_CLI, outputs)


def test_a_snapshot_gives_the_same_targets_and_a_failed_output_adds_nothing() -> None:
    lab = default_lab()
    nat = render(lab, lab.services)
    outputs = [_output(OutputName.ROUTES, LAB_ROUTES), _output(OutputName.ROUTES6, LAB_ROUTES6),
               _output(OutputName.ADDRESSES, LAB_ADDRESSES)]  # fmt: skip
    assert snapshot_targets(_snapshot(*outputs, _output(OutputName.RULES_NAT, nat))) == (
        _lab_targets()
    )
    # iptables-save missing (127): no Service address, and no endpoint from the nat table.
    failed = _output(OutputName.RULES_NAT, nat, status=127)
    without = snapshot_targets(_snapshot(*outputs, failed))
    assert without.service_addresses == frozenset()
    assert without.pod_addresses == {pod.ip for pod in lab.pods}  # the routes still count
    # A snapshot saved before routes were collected: no pod route, nat addresses only.
    old = snapshot_targets(_snapshot(_output(OutputName.RULES_NAT, nat)))
    assert old.service_addresses == {"10.96.0.20", "10.96.0.10"}
    assert old.pod_addresses == {e.ip for svc in lab.services for e in svc.endpoints}
