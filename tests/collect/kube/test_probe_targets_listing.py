"""Where ``--probe`` may go on a cluster, listed from the lab API through the official client
(ctdiag.collect.kube.probe_targets): ClusterIPs, running pods' IPs (host-network ones
excluded), nodes' pod CIDRs; paged; a forbidden list is one line."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from ctdiag.collect.kube.access import AccessOptions, Cluster, connect
from ctdiag.collect.kube.probe_targets import list_probe_targets, probe_targets_from_k8s
from ctdiag.errors import ForbiddenError
from ctdiag.lab.apiserver.cluster import (
    LabApiNode,
    LabApiPod,
    lab_pods_from_topology,
    lab_services_from_topology,
)
from ctdiag.lab.apiserver.faults import LabFaults
from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from ctdiag.lab.topology import default_lab
from ctdiag.probes.destinations import refusal

#: Listing never execs, so the nodes' namespace is never entered.
NODES = [
    LabApiNode("node-a", "ctdtest-unused"),
    LabApiNode("node-b", "ctdtest-unused", ip="198.18.0.12", pod_cidrs=()),  # CNI's own IPAM
]
PODS = (
    *lab_pods_from_topology(default_lab(), "node-a"),
    LabApiPod("ovnkube-node", "ovn", "node-b", "", host_network=True),  # has node-b's IP
    LabApiPod("web-x", "default", "node-b", "10.128.4.7"),
    LabApiPod("web-new", "default", "node-b", "10.128.4.8", phase="Pending"),
)


def _served(faults: LabFaults, pods: tuple[LabApiPod, ...] = PODS) -> Iterator[
        tuple[LabApiServer, Cluster]]:  # fmt: skip
    services = lab_services_from_topology(default_lab())
    with serve_lab_api(NODES, services=services, pods=pods, faults=faults) as api:
        cluster = connect(AccessOptions(str(api.kubeconfig), request_timeout_s=5))
        try:
            yield api, cluster
        finally:
            cluster.close()


def test_the_api_reports_cluster_ips_running_pods_and_pod_cidrs() -> None:
    for api, cluster in _served(LabFaults()):
        targets = list_probe_targets(cluster)
        requests = [urlsplit(path) for _, path in api.requests()]
    assert targets.service_addresses == {"10.96.0.20", "10.96.0.10"}
    # Running pods not on the host network; the Pending one and ovnkube-node are not.
    assert targets.pod_addresses == {p.ip for p in default_lab().pods} | {"10.128.4.7"}
    assert targets.pod_networks == (ipaddress.ip_network("10.244.1.0/24"),)
    assert targets.basis == f"the API of {cluster.where} reports"
    assert refusal(targets, "198.18.0.12") == (
        f"198.18.0.12 is neither a Service address nor a pod address the API of "
        f"{cluster.where} reports"
    )
    assert refusal(targets, "10.244.1.77", pod_only=True) is None  # in node-a's pod CIDR
    pods = [parse_qs(r.query) for r in requests if r.path == "/api/v1/pods"]
    assert pods == [{"fieldSelector": ["status.phase=Running"], "limit": ["500"]}]


def test_every_page_of_a_large_pod_list_is_read() -> None:
    many = tuple(LabApiPod(f"p{i}", "default", "node-b", f"10.128.{i // 200}.{i % 200 + 1}")
                 for i in range(1100))  # fmt: skip
    for api, cluster in _served(LabFaults(), many):
        targets = list_probe_targets(cluster)
        pages = [path for _, path in api.requests() if path.startswith("/api/v1/pods?")]
    assert targets.pod_addresses == {p.ip for p in many}
    assert len(pages) == 3 and all("limit=500" in p for p in pages)
    assert "continue=" not in pages[0] and all("continue=" in p for p in pages[1:])


@pytest.mark.parametrize("resource", ["services", "pods", "nodes"])
def test_a_forbidden_list_is_one_line_naming_what_was_asked(resource: str) -> None:
    for _, cluster in _served(LabFaults(forbidden=[("list", resource)])):
        with pytest.raises(ForbiddenError) as caught:
            list_probe_targets(cluster)
    message = str(caught.value)
    asked = "list nodes" if resource == "nodes" else f"list {resource} in all namespaces"
    assert message.startswith(f"{asked}: HTTP 403 Forbidden: {resource} is forbidden: User ")
    assert f'cannot list resource "{resource}"' in message and "\n" not in message


def test_objects_the_api_may_send_are_read_as_it_means_them() -> None:
    targets = probe_targets_from_k8s(
        services=[
            {"spec": {"clusterIP": "None"}},                                # headless
            {"spec": {"type": "ExternalName", "externalName": "example.org"}},
            {"spec": {"clusterIP": "10.96.0.1"}},                           # no clusterIPs
            {"spec": {"clusterIPs": ["10.96.0.2", "FD00:10:96::2"]}},
        ],
        pods=[
            {"spec": {}, "status": {"phase": "Running", "podIP": "10.244.9.9"}},  # old API
            {"spec": {}, "status": {"phase": "Running", "podIPs": [{"ip": "10.244.9.10"},
                                                                   {"ip": "fd00:10:244::a"}]}},
            {"spec": {}, "status": {"phase": "Succeeded", "podIP": "10.244.9.11"}},
            {"spec": {}, "status": {"phase": "Running"}},                    # no IP yet
            {"spec": {}, "status": {"phase": "Running", "podIP": "not-an-ip"}},
        ],
        nodes=[{"spec": {"podCIDR": "10.244.9.0/24"}}, {"spec": {"podCIDRs": ["bogus"]}}, {}],
        basis="the API reports",
    )  # fmt: skip
    assert targets.service_addresses == {"10.96.0.1", "10.96.0.2", "fd00:10:96::2"}
    assert targets.pod_addresses == {"10.244.9.9", "10.244.9.10", "fd00:10:244::a"}
    assert targets.pod_networks == (ipaddress.ip_network("10.244.9.0/24"),)
