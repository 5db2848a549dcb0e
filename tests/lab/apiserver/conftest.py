"""Fixtures of the lab API server tests: a fresh server per test, the official client on it.

The REST tests need no privilege: their nodes name a network namespace nothing ever
enters. The exec tests override ``api_netns`` with a scratch namespace (root only).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, config

from ctdiag.lab.apiserver import LabApiNode, LabApiServer, lab_services_from_topology, serve_lab_api
from ctdiag.lab.topology import default_lab

NODE = "ctdlab-node1"
NOT_READY = "ctdlab-node2"


@pytest.fixture
def api_netns() -> str:
    """The network namespace exec runs in (never entered by the REST tests)."""
    return "ctdtest-never-entered"


@pytest.fixture
def lab_api(api_netns: str) -> Iterator[LabApiServer]:
    nodes = [
        LabApiNode(
            NODE,
            api_netns,
            labels=(("topology.kubernetes.io/zone", "lab-a"),),
            host_missing=frozenset({"nft"}),
        ),
        LabApiNode(NOT_READY, api_netns, ip="198.18.0.12", ready=False),
    ]
    with serve_lab_api(nodes, services=lab_services_from_topology(default_lab())) as server:
        yield server


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
