"""Probes through a debug pod of the lab API server, whose node execs in the lab's node
namespace: the same probes over exec pass, only to addresses the API reports (a ClusterIP it
does not list gets no packet); an image and host without python3 skip."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from scapy.layers.inet import IP

from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.probe_targets import list_probe_targets
from ctdiag.collect.kube.session import DebugPodSession, PodOptions
from ctdiag.lab.apiserver.cluster import (
    LabApiNode,
    lab_pods_from_topology,
    lab_services_from_topology,
)
from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from ctdiag.lab.topology import LabNode
from ctdiag.model.probes import ProbeLevel
from ctdiag.model.services import ExpectedServicePort
from ctdiag.probes.run import run_probes
from ctdiag.probes.sender import sender_argv
from tests.collect.kube.conftest import connected

pytestmark = pytest.mark.needs_root

MINIMAL = "ctdiag.lab/minimal"


def _no_debug_pod_left(server: LabApiServer, within_s: float = 5.0) -> None:
    """No pod but the served workloads, and no ctdiag namespace, is left on the server."""
    deadline = time.monotonic() + within_s
    while True:
        left = [p["metadata"]["name"] for p in server.pods() if p["metadata"]["namespace"] !=
                "default"]  # fmt: skip
        spaces = [ns for ns in server.namespaces() if ns.startswith("ctdiag-")]
        if not left and not spaces:
            return
        assert time.monotonic() < deadline, f"left behind: pods {left}, namespaces {spaces}"
        time.sleep(0.1)


@pytest.fixture
def api(lab: LabNode) -> Iterator[LabApiServer]:
    nodes = [
        LabApiNode(name="lab-node1", netns=lab.namespace, pod_cidrs=()),
        LabApiNode(name="lab-bare", netns=lab.namespace, host_missing=frozenset({"python3"})),
    ]
    # The lab's pods are the cluster's: listed by the API as Running on lab-node1.
    with serve_lab_api(nodes, services=lab_services_from_topology(lab),
                       pods=lab_pods_from_topology(lab, "lab-node1")) as server:  # fmt: skip
        yield server
        _no_debug_pod_left(server)


def _sent_destinations(api: LabApiServer) -> list[str]:
    """The destination of every packet handed to the sender over exec."""
    sends = [argv for _, _, argv in api.exec_log() if argv[:4] == sender_argv("send")]
    return [IP(base64.b64decode(word)).dst for argv in sends for word in argv[5:]]


@pytest.fixture
def cluster(api: LabApiServer) -> Iterator[Cluster]:
    yield from connected(api)


def test_probes_pass_through_a_debug_pod(
    cluster: Cluster, api: LabApiServer, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    targets = list_probe_targets(cluster)
    with DebugPodSession(cluster, PodOptions(start_timeout_s=20)) as pods:
        report = run_probes(pods.runner("lab-node1"), lab_ports, targets, timeout=10)
    assert report.skipped is None and report.node == "lab-node1"
    assert [r.message for r in report.results if r.level is not ProbeLevel.PASS] == []
    assert {r.port_id for r in report.results if r.port_id} == {p.id for p in lab_ports}
    assert report.cleanup == ()
    # The packets travelled as argv words of the constant sender: no shell, no stdin.
    sends = [argv for _, _, argv in api.exec_log() if argv[:4] == sender_argv("send")]
    assert len(sends) == 2  # the INVALID self-test alone, then the rest


def test_a_cluster_ip_the_api_does_not_list_gets_no_packet(
    cluster: Cluster, api: LabApiServer, lab: LabNode,
    lab_ports: tuple[ExpectedServicePort, ...],
) -> None:  # fmt: skip
    # An --expect file on a cluster: the web Service at an address the API does not list.
    (web,) = [p for p in lab_ports if p.id == "default/web:80/tcp"]
    moved = replace(web, service=replace(web.service, cluster_ips=("10.96.0.21",)))
    ports = [moved if p is web else p for p in lab_ports]
    targets = list_probe_targets(cluster)
    with DebugPodSession(cluster, PodOptions(start_timeout_s=20)) as pods:
        report = run_probes(pods.runner("lab-node1"), ports, targets, timeout=10)
    (refused,) = report.service("default/web:80/tcp")
    assert refused.level is ProbeLevel.FAIL and not refused.sent
    assert refused.message == (
        "probe of default/web:80/tcp refused: 10.96.0.21 is neither a Service address nor a "
        f"pod address the API of {cluster.where} reports"
    )
    (dns,) = report.service("default/dns:53/udp")
    assert dns.level is ProbeLevel.PASS
    sent = _sent_destinations(api)
    assert "10.96.0.21" not in sent and "10.96.0.10" in sent
    assert set(sent) - {"10.96.0.10"} <= {pod.ip for pod in lab.pods}  # the self-tests'


def test_minimal_image_without_python3_skips_with_the_reason(
    cluster: Cluster, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    with DebugPodSession(cluster, PodOptions(image=MINIMAL, start_timeout_s=20)) as pods:
        report = run_probes(pods.runner("lab-bare"), lab_ports, list_probe_targets(cluster),
                            timeout=10)  # fmt: skip
    assert report.results == ()
    assert report.skipped == (
        "no python3 on lab-bare to send probes: ctdiag: cannot run python3: "
        f"not in image {MINIMAL}, not on the host (chroot /host)"
    )
