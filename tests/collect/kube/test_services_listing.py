"""Expected Services listed from the lab API through the official client
(ctdiag.collect.kube.services):
the same values the lab's own expectations give, and API failures as one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from ctdiag.collect.kube.access import AccessOptions, Cluster, connect
from ctdiag.collect.kube.services import list_expected_services
from ctdiag.errors import ForbiddenError
from ctdiag.lab.apiserver.cluster import LabApiNode, lab_services_from_topology
from ctdiag.lab.apiserver.faults import LabFaults
from ctdiag.lab.apiserver.server import serve_lab_api
from ctdiag.lab.expectations import lab_expected_services, planned_lab_services
from ctdiag.lab.state import LabState, effective_services
from ctdiag.lab.topology import LabNode, default_lab

#: Listing Services never execs, so the node's namespace is never entered.
NODES = [LabApiNode(name="ctdlab-node1", netns="ctdtest-unused")]


@pytest.fixture
def faults() -> LabFaults:
    return LabFaults()


def _cluster_of(lab: LabNode, faults: LabFaults) -> Iterator[Cluster]:
    with serve_lab_api(NODES, services=lab_services_from_topology(lab), faults=faults) as api:
        cluster = connect(AccessOptions(str(api.kubeconfig), request_timeout_s=5))
        try:
            yield cluster
        finally:
            cluster.close()


@pytest.mark.parametrize(
    "state",
    [LabState(), LabState(blackhole=True), LabState(removed_endpoints=("dns/dns1",))],
    ids=["as-built", "blackhole", "endpoint-removed"],
)
def test_listed_services_equal_the_labs_own(state: LabState, faults: LabFaults) -> None:
    node = default_lab()
    served = replace(node, services=effective_services(node, state))
    for cluster in _cluster_of(served, faults):
        listed = list_expected_services(cluster)
    assert listed == lab_expected_services(node, state)
    ids = [p.id for s in listed for p in s.expected_ports()]
    expected_ids = ["default/dns:53/udp", "default/web:80/tcp"]
    if state.blackhole:
        expected_ids[:0] = ["default/blackhole:9000/tcp", "default/blackhole:9001/udp"]
    assert ids == expected_ids
    web = next(s for s in listed if s.name == "web")
    assert web.cluster_ips == ("10.96.0.20",)
    assert web.ports[0].target_port == 8080 and web.ports[0].node_port == 30080
    assert [str(e) for e in web.ports[0].ready_endpoints] == [
        "10.244.1.11:8080",
        "10.244.1.12:8080",
    ]
    dns = next(s for s in listed if s.name == "dns")
    pods = [e.pod for e in dns.ports[0].endpoints]
    assert pods == (["dns2"] if state.removed_endpoints else ["dns1", "dns2"])


def test_planned_services_name_the_blackhole_only_with_its_scenario() -> None:
    node = default_lab()
    assert planned_lab_services(node, []) == lab_expected_services(node)
    assert planned_lab_services(node, ["stale_udp", "table_pressure:fraction=1.1"]) == (
        lab_expected_services(node)
    )
    flood = planned_lab_services(node, ["unreplied_flood"])
    assert [s.name for s in flood] == ["blackhole", "dns", "web"]


@pytest.mark.parametrize(
    ("forbidden", "resource"),
    [(("list", "services"), "services"), (("list", "endpointslices"), "endpointslices")],
)
def test_a_forbidden_list_is_one_line_naming_what_was_asked(
    forbidden: tuple[str, str], resource: str
) -> None:
    faults = LabFaults(forbidden=[forbidden])
    for cluster in _cluster_of(default_lab(), faults):
        with pytest.raises(ForbiddenError) as caught:
            list_expected_services(cluster)
    message = str(caught.value)
    assert message.startswith(f"list {resource} in all namespaces: HTTP 403 Forbidden: ")
    assert "\n" not in message
