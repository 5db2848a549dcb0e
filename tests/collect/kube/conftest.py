"""A lab API server whose nodes exec inside a scratch network namespace with real flows.

Every test ends by checking that no debug pod and no namespace of ours is left on the
server: the promise users care most about on a real cluster.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ctdiag.collect.kube.access import AccessOptions, Cluster, connect
from ctdiag.lab.apiserver.cluster import LabApiNode
from ctdiag.lab.apiserver.faults import LabFaults
from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from tests.collect.scratch_netns import ScratchNamespaces

pytestmark = pytest.mark.needs_root

FLOWS = 5


@pytest.fixture(scope="session")
def node_netns() -> Iterator[str]:
    """A namespace whose conntrack table holds ``FLOWS`` UDP flows (unreplied)."""
    ScratchNamespaces.sweep_abandoned()
    spaces = ScratchNamespaces()
    try:
        name = spaces.create("kube")
        spaces.exec(name, "nft", "add table inet ctdiag; add chain inet ctdiag out "
                    "{ type filter hook output priority 0; ct state new accept; }")
        yield name
    finally:
        spaces.delete_all()


def lab_nodes(netns: str) -> list[LabApiNode]:
    return [
        LabApiNode(name="worker-a", netns=netns),
        LabApiNode(name="worker-b", netns=netns, labels=(("pool", "b"),)),
        LabApiNode(name="worker-down", netns=netns, ready=False),
        LabApiNode(name="worker-bare", netns=netns, host_missing=frozenset({"conntrack"})),
    ]


def make_flows(netns: str) -> None:
    """``FLOWS`` fresh UDP flows to 127.0.0.1:9000.. (unreplied: they live 30 s)."""
    script = (
        "import socket\n"
        f"for port in range(9000, 9000 + {FLOWS}):\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    s.sendto(b'x', ('127.0.0.1', port)); s.close()\n"
    )
    subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", script], check=True,
                   timeout=15)  # fmt: skip


@pytest.fixture
def lab_api(node_netns: str) -> Iterator[LabApiServer]:
    make_flows(node_netns)
    with serve_lab_api(lab_nodes(node_netns), faults=LabFaults()) as api:
        yield api
        assert_nothing_left(api)


def assert_nothing_left(api: LabApiServer, *, within_s: float = 5.0) -> None:
    """No pod and no ctdiag namespace on the server (a deleted namespace is Terminating for
    a moment, as on real clusters)."""
    deadline = time.monotonic() + within_s
    while True:
        left = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in api.pods()]
        spaces = [ns for ns in api.namespaces() if ns.startswith("ctdiag-")]
        if not left and not spaces:
            return
        assert time.monotonic() < deadline, f"left behind: pods {left}, namespaces {spaces}"
        time.sleep(0.1)


def connected(api: LabApiServer) -> Iterator[Cluster]:
    """The official client on ``api`` (5 s per request), closed afterwards."""
    cluster = connect(AccessOptions(str(api.kubeconfig), request_timeout_s=5))
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(lab_api: LabApiServer) -> Iterator[Cluster]:
    yield from connected(lab_api)
