"""The lab against the real kernel: Services translate, traffic flows, scenarios do what they claim.

Every assertion reads kernel state inside the node namespace (``/proc/net/nf_conntrack``,
``/proc/net/stat/nf_conntrack``, sysctls, ``iptables-save``) through the lab's own small
readers. One lab per module; its finalizer always tears it down.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctdiag.errors import LabError
from ctdiag.lab import observe
from ctdiag.lab.lifecycle import down, status, up, wait_listening
from ctdiag.lab.netns import (
    PREFIX,
    lab_namespaces,
    run,
    run_program,
    spawn_program,
    write_sysctl,
)
from ctdiag.lab.rules import endpoint_chain, service_chain
from ctdiag.lab.scenario_model import ScenarioOptions
from ctdiag.lab.scenarios import SCENARIOS, STALE_SOURCE_PORT
from ctdiag.lab.topology import LabNode, PodRole, blackhole_service
from ctdiag.lab.traffic import TrafficPlan, start_traffic
from tests.held_lab import hold_lab

pytestmark = pytest.mark.needs_root

CLIENTS = "ctdiag.lab.clients"


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[LabNode]:
    yield hold_lab(request)


def _client(node: LabNode) -> str:
    return node.pods_with_role(PodRole.CLIENT)[0].namespace


def _clients(namespace: str, *args: str) -> str:
    """Run a lab client program to completion inside ``namespace``; its standard output."""
    return run_program(namespace, CLIENTS, args, timeout=30).stdout


def _flows_to(node: LabNode, ip: str) -> list[observe.LabFlow]:
    return [f for f in observe.read_flows(node.namespace) if f.orig_dst == ip]


def _nat_rules(node: LabNode) -> str:
    return run(["iptables-save", "-t", "nat"], namespace=node.namespace).stdout


def _lab_programs() -> list[str]:
    """Command lines of lab programs still running anywhere on the machine."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "-m ctdiag.lab." in text:
            found.append(text)
    return found


def test_rules_are_kube_proxy_shaped(lab: LabNode) -> None:
    rules = _nat_rules(lab)
    web = lab.service("web")
    portal = '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    for hook in ("PREROUTING", "OUTPUT"):
        assert f"-A {hook} {portal}" in rules
    assert f"-j {service_chain(web)}" in rules
    assert "--probability 0.50000000000" in rules
    for ep in web.endpoints:
        assert f"-A {endpoint_chain(web, str(ep))} " in rules
        assert f"--to-destination {ep}" in rules
    assert "MASQUERADE --random-fully" in rules
    assert "--set-xmark 0x4000/0x4000" in rules


def test_http_through_cluster_ip_is_dnated_to_an_endpoint(lab: LabNode) -> None:
    web = lab.service("web")
    out = _clients(_client(lab), "burst", "--target", web.cluster_ip, "--port", "80",
                   "--count", "20", "--rate", "0", "--duration", "10")  # fmt: skip
    assert "burst: 20 ok, 0 failed" in out
    flows = [f for f in _flows_to(lab, web.cluster_ip) if f.proto == "tcp"]
    assert len(flows) >= 20
    endpoints = {ep.ip for ep in web.endpoints}
    assert all(f.dnat and f.reply_src in endpoints and f.reply_sport == 8080 for f in flows)
    # Random load balancing over 20 connections: both endpoints (p of missing one: 2e-6).
    assert {f.reply_src for f in flows} == endpoints


def test_nodeport_from_external_host_is_dnated_and_masqueraded(lab: LabNode) -> None:
    web = lab.service("web")
    out = _clients(lab.external.namespace, "burst", "--target", lab.node_ip,
                   "--port", str(web.node_port), "--count", "3", "--rate", "0")  # fmt: skip
    assert "burst: 3 ok" in out
    flows = [f for f in _flows_to(lab, lab.node_ip) if f.orig_dport == web.node_port]
    assert len(flows) >= 3
    assert all(f.dnat and f.reply_src in {e.ip for e in web.endpoints} for f in flows)
    # KUBE-EXT marks NodePort traffic: the endpoint answers the node, not the external host.
    assert all(f.reply_dst == lab.gateway for f in flows)


def test_dns_through_the_service_answers(lab: LabNode) -> None:
    dns = lab.service("dns")
    out = _clients(_client(lab), "dns", "--target", dns.cluster_ip, "--port", "53",
                   "--count", "10", "--rate", "0")  # fmt: skip
    assert "dns: 10 answered, 0 lost" in out
    flows = [f for f in _flows_to(lab, dns.cluster_ip) if f.proto == "udp"]
    assert len(flows) >= 10
    assert all(f.reply_src in {e.ip for e in dns.endpoints} and not f.unreplied for f in flows)


def test_background_traffic_shapes_the_table_and_stops_by_itself(lab: LabNode) -> None:
    plan = TrafficPlan(duration=4.0, hold_connections=3, hold_interval=0.5,
                       http_requests=40, http_rate=20, dns_queries=20, dns_rate=10)  # fmt: skip
    traffic = start_traffic(lab, plan)
    try:
        time.sleep(2.5)
        flows = _flows_to(lab, lab.service("web").cluster_ip)
        states = [f.state for f in flows]
        assert states.count("ESTABLISHED") >= 3
        assert states.count("TIME_WAIT") >= 10
        assert len(_flows_to(lab, lab.service("dns").cluster_ip)) >= 10
        assert traffic.wait(timeout=10.0), "traffic streams did not stop by themselves"
    finally:
        traffic.stop()
    assert all(p.returncode == 0 for p in traffic.processes)


def test_invalid_storm_grows_the_invalid_counter(lab: LabNode) -> None:
    storm = SCENARIOS["invalid_storm"]
    before = observe.read_stats(lab.namespace).invalid
    try:
        storm.start(lab, ScenarioOptions(duration=6.0, rate=1000))
        time.sleep(1.0)
        first = observe.read_stats(lab.namespace).invalid
        time.sleep(1.0)
        second = observe.read_stats(lab.namespace).invalid
    finally:
        storm.stop(lab)
    print(f"invalid: {before} -> {first} -> {second} (1 s apart)")
    assert first - before > 300
    assert second - first > 300, "the storm must still be going while checks sample"


def test_unreplied_flood_leaves_unreplied_entries_toward_the_blackhole(lab: LabNode) -> None:
    flood = SCENARIOS["unreplied_flood"]
    hole = blackhole_service(lab)
    try:
        report = flood.start(lab, ScenarioOptions(duration=10.0, flows=100))
        flows = _flows_to(lab, hole.cluster_ip)
        unreplied = [f for f in flows if f.unreplied and f.reply_src == hole.endpoints[0].ip]
        print(f"unreplied_flood: {report.facts}")
        assert len(unreplied) >= 200
        assert {f.proto for f in unreplied} == {"tcp", "udp"}
        assert any(f.state == "SYN_SENT" for f in unreplied)
    finally:
        flood.stop(lab)
    assert not _flows_to(lab, hole.cluster_ip)
    assert hole.cluster_ip not in _nat_rules(lab)


def test_stale_udp_entry_keeps_pointing_at_the_removed_pod(lab: LabNode) -> None:
    stale = SCENARIOS["stale_udp"]
    dns = lab.service("dns")
    try:
        report = stale.start(lab, ScenarioOptions(duration=15.0))
        removed_ip = report.fact("removed_ip")
        assert f"--to-destination {removed_ip}:53" not in _nat_rules(lab)
        time.sleep(1.2)

        def entry() -> observe.LabFlow:
            return next(f for f in _flows_to(lab, dns.cluster_ip)
                        if f.orig_sport == STALE_SOURCE_PORT)  # fmt: skip

        first = entry()
        time.sleep(1.2)
        second = entry()
        assert first.reply_src == second.reply_src == removed_ip
        assert second.dnat
    finally:
        stale.stop(lab)
    assert all(f"--to-destination {e}" in _nat_rules(lab) for e in dns.endpoints)
    for pod in lab.pods_with_role(PodRole.DNS):
        wait_listening(pod.namespace, 53, "udp", timeout=5.0)


def test_missing_dnat_leaves_flows_to_the_service_untranslated(lab: LabNode) -> None:
    missing = SCENARIOS["missing_dnat"]
    web = lab.service("web")
    try:
        missing.start(lab, ScenarioOptions(duration=5.0))
        assert f"-d {web.cluster_ip}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC" not in _nat_rules(lab)
        fresh = [f for f in _flows_to(lab, web.cluster_ip) if f.state == "SYN_SENT"]
        assert len(fresh) >= 20
        assert not any(f.dnat for f in fresh)
    finally:
        missing.stop(lab)
    out = _clients(_client(lab), "burst", "--target", web.cluster_ip, "--port", "80",
                   "--count", "2", "--rate", "0")  # fmt: skip
    assert "burst: 2 ok" in out


def test_bad_tunables_read_back_in_the_node_only(lab: LabNode) -> None:
    tunables = SCENARIOS["bad_tunables"]
    host_before = Path("/proc/sys/net/netfilter/nf_conntrack_tcp_loose").read_text()
    try:
        report = tunables.start(lab, ScenarioOptions())
        for name, value in (("established", "432000"), ("close_wait", "60"), ("loose", "0")):
            key = next(k for k, _ in report.facts if k.endswith(name))
            assert run(["sysctl", "-n", key], namespace=lab.namespace).stdout.strip() == value
        assert Path("/proc/sys/net/netfilter/nf_conntrack_tcp_loose").read_text() == host_before
    finally:
        tunables.stop(lab)
    assert observe.read_max(lab.namespace) > 0
    established = "net.netfilter.nf_conntrack_tcp_timeout_established"
    assert run(["sysctl", "-n", established], namespace=lab.namespace).stdout.strip() == "86400"
    # nf_conntrack_max is global: read-only outside the initial namespace.
    with pytest.raises(LabError, match="nf_conntrack_max"):
        write_sysctl(lab.namespace, "net.netfilter.nf_conntrack_max", 1000)


def test_table_pressure_reaches_its_fraction(lab: LabNode) -> None:
    pressure = SCENARIOS["table_pressure"]
    limit = observe.read_max(lab.namespace)
    try:
        report = pressure.start(lab, ScenarioOptions(fraction=0.5, duration=20.0))
        count = observe.read_count(lab.namespace)
        print(f"table_pressure 0.5: {report.facts}")
        assert count >= 0.5 * limit * 0.99
    finally:
        pressure.stop(lab)
    assert observe.read_count(lab.namespace) < 1000


def test_table_overflow_makes_the_kernel_early_drop(lab: LabNode) -> None:
    pressure = SCENARIOS["table_pressure"]
    before = observe.read_stats(lab.namespace)
    try:
        report = pressure.start(lab, ScenarioOptions(fraction=1.05, duration=20.0))
        after = observe.read_stats(lab.namespace)
        print(f"table_pressure 1.05: {report.facts}")
        assert after.early_drop - before.early_drop >= 0.9 * 0.05 * observe.read_max(lab.namespace)
        assert observe.read_count(lab.namespace) >= observe.read_max(lab.namespace) - 100
    finally:
        pressure.stop(lab)
    assert observe.read_count(lab.namespace) < 1000


def test_table_full_of_assured_flows_makes_the_kernel_drop(lab: LabNode) -> None:
    pressure = SCENARIOS["table_pressure"]
    before = observe.read_stats(lab.namespace)
    try:
        report = pressure.start(lab, ScenarioOptions(fraction=1.02, assured=True))
        after = observe.read_stats(lab.namespace)
        print(f"table_pressure 1.02 assured: {report.facts}")
        overflow = int(report.fact("overflow_flows_sent"))
        # Early drop skips ASSURED entries: (nearly) every flow past the limit is dropped.
        assert after.drop - before.drop >= 0.9 * overflow
        assert after.early_drop - before.early_drop < 0.1 * overflow
    finally:
        pressure.stop(lab)
    assert observe.read_count(lab.namespace) < 1000


def test_down_removes_every_namespace_link_and_process(lab: LabNode) -> None:
    # A stray process nobody tracks, as if its starter had crashed.
    args = ["steady", "--target", lab.service("dns").cluster_ip, "--port", "53", "--duration", "60"]
    stray = spawn_program(_client(lab), CLIENTS, args, log_name="stray")
    report = down()
    stray.wait(timeout=5)
    print(f"down: {report}")
    assert set(report.namespaces) >= set(lab.namespaces)
    assert not lab_namespaces()
    assert status().empty
    assert PREFIX not in run(["ip", "-o", "link", "show"]).stdout
    assert not _lab_programs()
    assert down().namespaces == ()  # idempotent
    # Rebuild, so tests ordered after this one (xdist, -p randomly) still find their lab.
    up()
