"""Probes through a debug pod of the lab API server, whose node execs in the lab's node
namespace: the same probes over exec pass; an image and host without python3 skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.session import DebugPodSession, PodOptions
from ctdiag.lab.apiserver.cluster import LabApiNode
from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from ctdiag.lab.topology import LabNode
from ctdiag.model.probes import ProbeLevel
from ctdiag.model.services import ExpectedServicePort
from ctdiag.probes.run import run_probes
from ctdiag.probes.sender import sender_argv
from tests.collect.kube.conftest import assert_nothing_left, connected

pytestmark = pytest.mark.needs_root

MINIMAL = "ctdiag.lab/minimal"


@pytest.fixture
def api(lab: LabNode) -> Iterator[LabApiServer]:
    nodes = [
        LabApiNode(name="lab-node1", netns=lab.namespace),
        LabApiNode(name="lab-bare", netns=lab.namespace, host_missing=frozenset({"python3"})),
    ]
    with serve_lab_api(nodes) as server:
        yield server
        assert_nothing_left(server)


@pytest.fixture
def cluster(api: LabApiServer) -> Iterator[Cluster]:
    yield from connected(api)


def test_probes_pass_through_a_debug_pod(
    cluster: Cluster, api: LabApiServer, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    with DebugPodSession(cluster, PodOptions(start_timeout_s=20)) as pods:
        report = run_probes(pods.runner("lab-node1"), lab_ports, timeout=10)
    assert report.skipped is None and report.node == "lab-node1"
    assert [r.message for r in report.results if r.level is not ProbeLevel.PASS] == []
    assert {r.port_id for r in report.results if r.port_id} == {p.id for p in lab_ports}
    assert report.cleanup == ()
    # The packets travelled as argv words of the constant sender: no shell, no stdin.
    sends = [argv for _, _, argv in api.exec_log() if argv[:4] == sender_argv("send")]
    assert len(sends) == 2  # the INVALID self-test alone, then the rest


def test_minimal_image_without_python3_skips_with_the_reason(
    cluster: Cluster, lab_ports: tuple[ExpectedServicePort, ...]
) -> None:
    with DebugPodSession(cluster, PodOptions(image=MINIMAL, start_timeout_s=20)) as pods:
        report = run_probes(pods.runner("lab-bare"), lab_ports, timeout=10)
    assert report.results == ()
    assert report.skipped == (
        "no python3 on lab-bare to send probes: ctdiag: cannot run python3: "
        f"not in image {MINIMAL}, not on the host (chroot /host)"
    )
