"""Fixtures of the lab API server tests: a fresh server per test, the official client on it.

The REST tests need no privilege: their nodes name a network namespace nothing ever
enters. The exec tests override ``api_netns`` with a scratch namespace (root only).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from ctdiag.lab.apiserver.cluster import LabApiNode, lab_services_from_topology
from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from ctdiag.lab.topology import default_lab

NODE = "ctdlab-node1"
NOT_READY = "ctdlab-node2"


@pytest.fixture
def api_netns() -> str:
    """The network namespace exec runs in (never entered by the REST tests)."""
    return "ctdtest-never-entered"


def lab_nodes(netns: str) -> list[LabApiNode]:
    """A Ready node (no ``nft`` on its host) and a NotReady one, both execing in ``netns``."""
    return [
        LabApiNode(
            NODE,
            netns,
            labels=(("topology.kubernetes.io/zone", "lab-a"),),
            host_missing=frozenset({"nft"}),
        ),
        LabApiNode(NOT_READY, netns, ip="198.18.0.12", ready=False),
    ]


def _server_threads() -> set[threading.Thread]:
    # asyncio's child watcher reaps each exec in a short-lived "waitpid-N" thread.
    return {t for t in threading.enumerate() if not t.name.startswith("waitpid-")}


@pytest.fixture
def lab_api(api_netns: str) -> Iterator[LabApiServer]:
    """A fresh server per test; afterwards no thread of it may be left."""
    before = _server_threads()
    services = lab_services_from_topology(default_lab())
    with serve_lab_api(lab_nodes(api_netns), services=services) as server:
        yield server
    left = _server_threads() - before
    assert not left, f"threads left behind: {left}"


@pytest.fixture
def api_client(lab_api: LabApiServer) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(lab_api.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)
