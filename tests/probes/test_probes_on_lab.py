"""Probes against the real kernel: they pass on the healthy lab, and each verdict fails when
its kernel effect is prevented (NOTRACK, a listener that answers, a raw-table DROP, a
missing Service rule). Probes are sent from the lab's node namespace, as a debug pod
(hostNetwork) sends them from a node's, and only where the node itself routes Services and
pods (read from it): an expected address it does not route gets no packet.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ctdiag.collect.runners import NetnsRunner
from ctdiag.lab import observe
from ctdiag.lab.lifecycle import wait_listening
from ctdiag.lab.netns import run
from ctdiag.lab.scenario_model import ScenarioOptions
from ctdiag.lab.scenarios import scenario
from ctdiag.lab.topology import LabNode
from ctdiag.model.probes import ProbeLevel, ProbeReport
from ctdiag.model.services import (
    ExpectedService,
    ExpectedServicePort,
    ServiceEndpoint,
    ServicePort,
    ServiceProtocol,
)
from ctdiag.probes.crafting import UNREPLIED_PORT
from ctdiag.probes.routed import read_targets
from ctdiag.probes.run import ProbeOptions, run_probes
from tests.udp_echo import UDP_ECHO

pytestmark = pytest.mark.needs_root

WEB = "default/web:80/tcp"
DNS = "default/dns:53/udp"


def _probe(lab: LabNode, ports: tuple[ExpectedServicePort, ...], **options: object) -> ProbeReport:
    runner = NetnsRunner(lab.namespace)
    report = run_probes(runner, ports, read_targets(runner), timeout=10,
                        options=ProbeOptions(**options))  # type: ignore[arg-type]  # fmt: skip
    assert report.skipped is None
    return report


def _probe_flows(lab: LabNode, report: ProbeReport) -> list[observe.LabFlow]:
    ports = {int(r.message.split(":")[1].split(" ")[0]) for r in report.results}
    return [f for f in observe.read_flows(lab.namespace) if f.orig_sport in ports]


@contextlib.contextmanager
def _rule(lab: LabNode, table: str, *rule: str) -> Iterator[None]:
    """One rule first in the node's OUTPUT chain of ``table``, removed afterwards."""
    run(["iptables", "-w", "5", "-t", table, "-I", "OUTPUT", *rule], namespace=lab.namespace)
    try:
        yield
    finally:
        run(["iptables", "-w", "5", "-t", table, "-D", "OUTPUT", *rule], namespace=lab.namespace)


def test_healthy_lab_passes_every_probe_and_cleans_up(
    lab: LabNode, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    report = _probe(lab, lab_ports)
    failed = [r.message for r in report.results if r.level is not ProbeLevel.PASS]
    assert failed == []
    (web,) = report.service(WEB)
    (dns,) = report.service(DNS)
    assert web.translated_to in {str(e) for e in lab.service("web").endpoints}
    assert dns.translated_to in {str(e) for e in lab.service("dns").endpoints}
    assert web.reply_seen and dns.reply_seen and web.sent and dns.sent
    assert report.invalid_self_test is not None and report.invalid_self_test.invalid_delta
    assert report.unreplied_self_test is not None
    assert report.unreplied_self_test.level is ProbeLevel.PASS
    assert report.cleanup == ()
    assert _probe_flows(lab, report) == []  # every probe deleted its own entry


def test_invalid_self_test_fails_when_the_packet_is_not_tracked(
    lab: LabNode, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    with _rule(lab, "raw", "-p", "tcp", "--dport", str(UNREPLIED_PORT), "-j", "CT", "--notrack"):
        report = _probe(lab, lab_ports)
    invalid = report.invalid_self_test
    assert invalid is not None and invalid.level is ProbeLevel.FAIL, invalid
    assert invalid.invalid_delta == 0
    assert "invalid counter unchanged" in invalid.message
    assert all(r.level is ProbeLevel.PASS for r in report.service(WEB) + report.service(DNS))


def test_unreplied_self_test_fails_when_the_port_answers(
    lab: LabNode, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    pod = lab.pod("web1")
    echo = subprocess.Popen(["ip", "netns", "exec", pod.namespace, sys.executable, "-c",
                             UDP_ECHO, pod.ip, str(UNREPLIED_PORT)])  # fmt: skip
    try:
        wait_listening(pod.namespace, UNREPLIED_PORT, "udp")
        report = _probe(lab, lab_ports, self_test_target=pod.ip)
    finally:
        echo.kill()
        echo.wait(5)
    unreplied = report.unreplied_self_test
    assert unreplied is not None and unreplied.level is ProbeLevel.FAIL, unreplied
    assert unreplied.reply_seen
    assert f"entry saw a reply from {pod.ip}:{UNREPLIED_PORT}" in unreplied.message
    assert _probe_flows(lab, report) == []


@pytest.mark.parametrize("table", ["raw", "filter"])
def test_unreplied_self_test_fails_when_dropped_before_insertion(
    lab: LabNode, lab_ports: tuple[ExpectedServicePort, ...], table: str
) -> None:
    # raw: before conntrack sees it; filter: after conntrack made the entry, which is then
    # never inserted (insertion happens at the last hook). Either way: no entry.
    with _rule(lab, table, "-p", "udp", "--dport", str(UNREPLIED_PORT), "-j", "DROP"):
        report = _probe(lab, lab_ports, reply_wait_s=0.3)
    unreplied = report.unreplied_self_test
    assert unreplied is not None and unreplied.level is ProbeLevel.FAIL, unreplied
    assert not unreplied.entry_found and not unreplied.sent
    assert "not sent: dropped by a netfilter rule on the way out (EPERM)" in unreplied.message
    assert "no entry for that tuple" in unreplied.message
    assert all(r.level is ProbeLevel.PASS for r in report.service(WEB) + report.service(DNS))


def test_missing_dnat_fails_the_web_probe_not_translated(
    lab: LabNode, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    missing = scenario("missing_dnat")
    missing.start(lab, ScenarioOptions(duration=5))
    try:
        report = _probe(lab, lab_ports, reply_wait_s=0.3)
    finally:
        missing.stop(lab)
    (web,) = report.service(WEB)
    assert web.level is ProbeLevel.FAIL and not web.reply_seen
    assert "entry found but not translated (reply from 10.96.0.20:80)" in web.message
    (dns,) = report.service(DNS)
    assert dns.level is ProbeLevel.PASS


def test_the_lab_node_routes_its_services_and_pods_and_nothing_else(lab: LabNode) -> None:
    targets = read_targets(NetnsRunner(lab.namespace))
    assert targets.service_addresses == {svc.cluster_ip for svc in lab.services}
    assert targets.pod_addresses == {pod.ip for pod in lab.pods}
    assert targets.basis == "this node routes"


def _sent_to(lab: LabNode, address: str) -> int:
    """Packets the node's raw OUTPUT counting rule for ``address`` has seen."""
    saved = run(["iptables-save", "-c", "-t", "raw"], namespace=lab.namespace).stdout
    match = re.search(rf"^\[(\d+):\d+\] -A OUTPUT -d {re.escape(address)}/32$", saved, re.M)
    assert match, saved
    return int(match[1])


def test_an_expected_address_the_node_does_not_route_gets_no_packet(
    lab: LabNode, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    # The case: an --expect file naming the lab's external host (on the uplink's
    # subnet, reachable) as a Service and as its endpoint. Listed first, so the old scope,
    # built from the file, would also have aimed the self-tests at it.
    outside = ExpectedService("default", "outside", ("198.18.0.100",), (
        ServicePort(80, ServiceProtocol.TCP, 80, (ServiceEndpoint(lab.external.ip, 80),)),
    ))  # fmt: skip
    ports = (*outside.expected_ports(), *lab_ports)
    with _rule(lab, "raw", "-d", "198.18.0.100/32"), _rule(lab, "raw", "-d", "10.96.0.20/32"):
        report = _probe(lab, ports, reply_wait_s=0.3)
        sent_outside, sent_web = _sent_to(lab, "198.18.0.100"), _sent_to(lab, "10.96.0.20")
        flows = observe.read_flows(lab.namespace)
    (refused,) = report.service("default/outside:80/tcp")
    assert refused.message == (
        "probe of default/outside:80/tcp refused: 198.18.0.100 is neither a Service address "
        "nor a pod address this node routes"
    )
    assert refused.level is ProbeLevel.FAIL and not refused.sent
    assert sent_outside == 0 and sent_web >= 1  # the counter counts; nothing went outside
    assert not [f for f in flows if f.orig_dst == lab.external.ip]
    # The other probes ran, and the self-tests went to a pod the node routes.
    assert [r.level for r in report.service(WEB) + report.service(DNS)] == [ProbeLevel.PASS] * 2
    unreplied = report.unreplied_self_test
    assert unreplied is not None and unreplied.level is ProbeLevel.PASS, unreplied
    assert unreplied.sent and lab.external.ip not in unreplied.message
