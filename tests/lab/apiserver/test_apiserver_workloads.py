"""What a cluster reports about where its pods are, as the lab API serves it to the official
client: nodes' pod CIDRs, workload pods listed Running with their IPs, and paged lists."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ctdiag.lab.apiserver.cluster import LabApiNode, LabApiPod, lab_pods_from_topology
from ctdiag.lab.apiserver.server import serve_lab_api
from ctdiag.lab.topology import default_lab

NODES = [
    LabApiNode("node-a", "ctdtest-never-entered", ip="198.18.0.11"),
    LabApiNode("node-b", "ctdtest-never-entered", ip="198.18.0.12",
               pod_cidrs=("10.244.2.0/24", "fd00:10:244:2::/64")),
    LabApiNode("node-c", "ctdtest-never-entered", ip="198.18.0.13", pod_cidrs=()),
]  # fmt: skip
PODS = (
    *lab_pods_from_topology(default_lab(), "node-a"),
    LabApiPod("agent", "kube-system", "node-b", "10.244.2.9", host_network=True),
    LabApiPod("starting", "default", "node-c", "10.244.3.4", phase="Pending"),
)


def test_nodes_carry_their_pod_cidrs_and_pods_their_ips() -> None:
    with serve_lab_api(NODES, pods=PODS) as api:
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(api.kubeconfig)))
        nodes = {n.metadata.name: n.spec for n in core.list_node().items}
        assert (nodes["node-a"].pod_cidr, nodes["node-a"].pod_cidrs) == (
            "10.244.1.0/24", ["10.244.1.0/24"])
        assert nodes["node-b"].pod_cidrs == ["10.244.2.0/24", "fd00:10:244:2::/64"]
        assert nodes["node-c"].pod_cidr is None and nodes["node-c"].pod_cidrs is None
        running = core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
        ips = {p.metadata.name: [i.ip for i in p.status.pod_ips] for p in running}
        assert ips == {**{p.name: [p.ip] for p in default_lab().pods}, "agent": ["198.18.0.12"]}
        agent = next(p for p in running if p.metadata.name == "agent")
        assert agent.spec.host_network and agent.spec.node_name == "node-b"
        assert agent.status.host_ip == "198.18.0.12"
        assert [p.metadata.name for p in core.list_namespaced_pod("default").items if
                p.status.phase == "Pending"] == ["starting"]  # fmt: skip
        # Nothing runs them: no exec process, nothing scheduled.
        assert api.exec_log() == []


def test_lists_are_paged_with_limit_and_continue() -> None:
    pods = [LabApiPod(f"p{i:04d}", "default", "node-a", f"10.244.{i // 250}.{i % 250 + 1}")
            for i in range(1203)]  # fmt: skip
    with serve_lab_api(NODES[:1], pods=pods) as api:
        core = client.CoreV1Api(config.new_client_from_config(config_file=str(api.kubeconfig)))
        names: list[str] = []
        token = None
        pages = []
        while True:
            page = core.list_pod_for_all_namespaces(limit=500, _continue=token)
            pages.append((len(page.items), page.metadata.remaining_item_count))
            names += [p.metadata.name for p in page.items]
            token = page.metadata._continue
            if not token:
                break
        assert pages == [(500, 703), (500, 203), (203, None)]
        assert names == [p.name for p in pods]
        with pytest.raises(ApiException) as bad:
            core.list_pod_for_all_namespaces(limit=500, _continue="not-a-token")
        assert bad.value.status == 400
        assert json.loads(bad.value.body)["message"].startswith("invalid query: ")
