"""The lab API server's REST side through the official client: CRUD, errors, selectors,
discovery, Services and EndpointSlices, authentication and the REST faults.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from tests.lab.apiserver.conftest import NODE, NOT_READY, lab_nodes
from tests.lab.apiserver.kube_objects import debug_pod

USER = "system:serviceaccount:ctdiag:lab"


def _status(error: ApiException) -> dict[str, object]:
    body = json.loads(error.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == error.status
    return dict(body)


def test_discovery_and_version(api_client: client.ApiClient) -> None:
    version = client.VersionApi(api_client).get_code()
    assert version.git_version == "v1.31.0-ctdiag-lab"
    assert version.major == "1"
    resources = client.CoreV1Api(api_client).get_api_resources()
    names = {r.name for r in resources.resources}
    assert {"pods", "pods/exec", "namespaces", "nodes", "services"} <= names
    groups = client.ApisApi(api_client).get_api_versions()
    assert [g.name for g in groups.groups] == ["discovery.k8s.io"]
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]


def test_nodes_deserialize_with_conditions_and_info(core: client.CoreV1Api) -> None:
    nodes = core.list_node()
    assert nodes.kind == "NodeList" and nodes.api_version == "v1"
    assert nodes.metadata.resource_version
    by_name = {n.metadata.name: n for n in nodes.items}
    assert set(by_name) == {NODE, NOT_READY}
    node = by_name[NODE]
    ready = {c.type: c for c in node.status.conditions}["Ready"]
    assert (ready.status, ready.reason) == ("True", "KubeletReady")
    assert ready.last_heartbeat_time is not None
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses == {"InternalIP": "198.18.0.11", "Hostname": NODE}
    info = node.status.node_info
    assert info.kernel_version == os.uname().release
    assert info.container_runtime_version == "cri-o://1.31.0-lab"
    assert info.operating_system == "linux"
    labels = node.metadata.labels
    assert labels["kubernetes.io/hostname"] == NODE
    assert labels["node-role.kubernetes.io/worker"] == ""
    assert labels["topology.kubernetes.io/zone"] == "lab-a"
    not_ready = {c.type: c for c in by_name[NOT_READY].status.conditions}["Ready"]
    assert (not_ready.status, not_ready.reason) == ("False", "KubeletNotReady")


def test_node_selectors_and_404(core: client.CoreV1Api) -> None:
    picked = core.list_node(field_selector=f"metadata.name={NOT_READY}").items
    assert [n.metadata.name for n in picked] == [NOT_READY]
    zoned = core.list_node(label_selector="topology.kubernetes.io/zone in (lab-a,lab-b)")
    assert [n.metadata.name for n in zoned.items] == [NODE]
    assert core.read_node(NODE).metadata.name == NODE
    with pytest.raises(ApiException) as caught:
        core.read_node("nope")
    assert caught.value.status == 404
    assert _status(caught.value)["message"] == 'nodes "nope" not found'
    assert _status(caught.value)["reason"] == "NotFound"
    with pytest.raises(ApiException) as bad:
        core.list_node(field_selector="spec.nodeName=x")
    assert bad.value.status == 400


def test_namespace_crud_and_conflicts(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    assert lab_api.namespaces() == ["default"]
    body = client.V1Namespace(
        metadata=client.V1ObjectMeta(
            generate_name="openshift-debug-",
            labels={"pod-security.kubernetes.io/enforce": "privileged"},
            annotations={"openshift.io/node-selector": ""},
        )
    )
    created = core.create_namespace(body)
    name = created.metadata.name
    assert name.startswith("openshift-debug-") and len(name) == len("openshift-debug-") + 5
    assert created.status.phase == "Active"
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.metadata.labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert created.metadata.annotations == {"openshift.io/node-selector": ""}
    assert core.read_namespace(name).metadata.uid == created.metadata.uid
    privileged = core.list_namespace(label_selector="pod-security.kubernetes.io/enforce")
    assert [n.metadata.name for n in privileged.items] == [name]
    with pytest.raises(ApiException) as exists:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    assert exists.value.status == 409
    assert _status(exists.value)["reason"] == "AlreadyExists"
    assert _status(exists.value)["message"] == f'namespaces "{name}" already exists'
    with pytest.raises(ApiException) as missing:
        core.read_namespace("absent")
    assert missing.value.status == 404
    with pytest.raises(ApiException) as invalid:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="Bad_Name")))
    assert invalid.value.status == 422 and _status(invalid.value)["reason"] == "Invalid"
    with pytest.raises(ApiException) as protected:
        core.delete_namespace("default")
    assert protected.value.status == 403


def test_pod_crud(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    created = core.create_namespaced_pod("default", debug_pod(NODE))
    name = created.metadata.name
    assert name.startswith(f"node-debugger-{NODE}-")
    assert created.status.phase == "Pending"
    assert created.metadata.namespace == "default"
    assert int(created.metadata.resource_version) > 0
    assert created.spec.containers[0].image_pull_policy == "Always"
    fetched = core.read_namespaced_pod(name, "default")
    assert fetched.metadata.uid == created.metadata.uid
    listed = core.list_namespaced_pod("default")
    assert listed.kind == "PodList" and listed.metadata.resource_version
    assert [p.metadata.name for p in listed.items] == [name]
    everywhere = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={NODE}")
    assert [p.metadata.name for p in everywhere.items] == [name]
    assert core.list_pod_for_all_namespaces(field_selector="spec.nodeName=other").items == []
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_pod("default", debug_pod(NODE, name=name))
    assert exists.value.status == 409
    assert _status(exists.value)["message"] == f'pods "{name}" already exists'
    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_pod("absent", debug_pod(NODE))
    assert no_namespace.value.status == 404
    assert _status(no_namespace.value)["message"] == 'namespaces "absent" not found'
    with pytest.raises(ApiException) as no_pod:
        core.read_namespaced_pod("absent", "default")
    assert _status(no_pod.value)["message"] == 'pods "absent" not found'
    core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    assert lab_api.pods() == []
    with pytest.raises(ApiException) as gone:
        core.delete_namespaced_pod(name, "default")
    assert gone.value.status == 404


def test_pod_label_selectors(core: client.CoreV1Api) -> None:
    for index, labels in enumerate(({"app": "a", "tier": "x"}, {"app": "b"}, {"other": "1"})):
        core.create_namespaced_pod("default", debug_pod(NODE, name=f"p{index}", labels=labels))

    def names(selector: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("default",
                                                                  label_selector=selector).items]

    assert names("app=a") == ["p0"]
    assert names("app!=a") == ["p1", "p2"]
    assert names("app in (a,b)") == ["p0", "p1"]
    assert names("app notin (a)") == ["p1", "p2"]
    assert names("app") == ["p0", "p1"]
    assert names("!app") == ["p2"]
    assert names("app=a,tier=x") == ["p0"]
    assert names("app=a,tier=y") == []
    core.delete_collection_namespaced_pod("default", label_selector="app")
    marked = core.list_namespaced_pod("default", label_selector="app").items
    assert all(p.metadata.deletion_timestamp for p in marked)  # graceful: gone ~0.5 s later
    end = time.monotonic() + 3
    while names("") != ["p2"] and time.monotonic() < end:
        time.sleep(0.05)
    assert names("") == ["p2"]


def test_delete_records_grace_from_query_and_body(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    first = core.create_namespaced_pod("default", debug_pod(NODE)).metadata.name
    second = core.create_namespaced_pod("default", debug_pod(NODE)).metadata.name
    core.delete_namespaced_pod(first, "default", grace_period_seconds=0)
    core.delete_namespaced_pod(second, "default", body=client.V1DeleteOptions(
        grace_period_seconds=0, propagation_policy="Background"
    ))
    records = lab_api.deletes()
    assert [(r.path.split("?")[0].rsplit("/", 1)[-1], r.grace_period_seconds)
            for r in records] == [(first, 0), (second, 0)]
    assert "gracePeriodSeconds=0" in records[0].path
    assert ("DELETE", records[0].path) in lab_api.requests()
    assert lab_api.pods() == []


def test_services_and_endpointslices_deserialize(
    core: client.CoreV1Api, api_client: client.ApiClient
) -> None:
    services = core.list_namespaced_service("default")
    assert services.kind == "ServiceList" and services.metadata.resource_version
    by_name = {s.metadata.name: s for s in services.items}
    assert set(by_name) == {"web", "dns"}
    web = by_name["web"]
    assert web.spec.cluster_ip == "10.96.0.20" and web.spec.type == "NodePort"
    port = web.spec.ports[0]
    assert (port.name, port.port, port.protocol, port.node_port) == ("http", 80, "TCP", 30080)
    assert port.target_port == 8080
    assert core.read_namespaced_service("dns", "default").spec.ports[0].protocol == "UDP"
    assert len(core.list_service_for_all_namespaces().items) == 2
    discovery = client.DiscoveryV1Api(api_client)
    slices = discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web"
    )
    assert slices.kind == "EndpointSliceList" and slices.api_version == "discovery.k8s.io/v1"
    assert len(slices.items) == 1
    piece = slices.items[0]
    assert piece.address_type == "IPv4"
    assert sorted(a for e in piece.endpoints for a in e.addresses) == ["10.244.1.11",
                                                                       "10.244.1.12"]
    assert all(e.conditions.ready for e in piece.endpoints)
    assert {e.target_ref.name for e in piece.endpoints} == {"web1", "web2"}
    assert [(p.name, p.port, p.protocol) for p in piece.ports] == [("http", 8080, "TCP")]
    assert len(discovery.list_endpoint_slice_for_all_namespaces().items) == 2


def test_requests_without_the_token_get_401(lab_api: LabApiServer) -> None:
    anonymous = kube_config.new_client_from_config(config_file=str(lab_api.kubeconfig))
    anonymous.configuration.api_key.clear()
    anonymous.configuration.api_key_prefix.clear()
    try:
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(anonymous).list_namespace()
    finally:
        anonymous.close()
    assert caught.value.status == 401
    assert _status(caught.value)["reason"] == "Unauthorized"


def test_forbidden_answers_use_rbac_wording(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    lab_api.faults.forbidden.update({("create", "pods"), ("list", "nodes"),
                                     ("create", "namespaces"), ("delete", "pods")})
    with pytest.raises(ApiException) as pods:
        core.create_namespaced_pod("default", debug_pod(NODE))
    assert pods.value.status == 403
    assert _status(pods.value)["message"] == (
        f'pods is forbidden: User "{USER}" cannot create resource "pods" in API group "" '
        'in the namespace "default"'
    )
    with pytest.raises(ApiException) as nodes:
        core.list_node()
    assert _status(nodes.value)["message"] == (
        f'nodes is forbidden: User "{USER}" cannot list resource "nodes" in API group "" '
        "at the cluster scope"
    )
    with pytest.raises(ApiException) as namespaces:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="x")))
    assert _status(namespaces.value)["reason"] == "Forbidden"
    with pytest.raises(ApiException) as delete:
        core.delete_namespaced_pod("any", "default")
    assert 'pods "any" is forbidden' in str(_status(delete.value)["message"])
    lab_api.faults.forbidden.clear()
    assert core.list_node().items


def test_scc_denial_names_privileged(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    lab_api.faults.scc_denied = True
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod("default", debug_pod(NODE, name="dbg"))
    message = str(_status(caught.value)["message"])
    assert caught.value.status == 403
    assert message.startswith('pods "dbg" is forbidden: unable to validate against any '
                              "security context constraint: [")
    assert "spec.containers[0].securityContext.privileged: Invalid value: true: Privileged " \
           "containers are not allowed" in message
    assert lab_api.pods() == []


def test_server_errors_count_down(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    lab_api.faults.server_errors = 2
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.list_namespace()
        assert caught.value.status == 500
        assert _status(caught.value)["reason"] == "InternalError"
    assert lab_api.faults.server_errors == 0
    assert core.list_namespace().items


def test_faults_can_be_limited_to_the_requests_they_match(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    core.create_namespace({"metadata": {"name": "scratch"}})
    lab_api.faults.server_errors_match = "DELETE "
    lab_api.faults.server_errors = 1
    lab_api.faults.response_delay_match = "DELETE "
    lab_api.faults.response_delay_s = 0.5
    started = time.monotonic()
    assert core.list_namespace().items  # not a DELETE: neither delayed nor failed
    assert time.monotonic() - started < 0.4
    assert lab_api.faults.server_errors == 1
    started = time.monotonic()
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("scratch")
    assert caught.value.status == 500 and lab_api.faults.server_errors == 0
    assert time.monotonic() - started >= 0.5
    core.delete_namespace("scratch")
    assert core.read_namespace("scratch").status.phase == "Terminating"


def test_response_delay_trips_client_timeouts(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    lab_api.faults.response_delay_s = 0.5
    before = len(lab_api.requests())
    started = time.monotonic()
    with pytest.raises(Exception, match=r"[Tt]imed? ?out"):
        core.list_namespace(_request_timeout=0.2)
    # urllib3 retries a read timeout three times: four requests, 4 x 0.2 s.
    assert time.monotonic() - started < 1.5
    assert len(lab_api.requests()) - before == 4
    lab_api.faults.response_delay_s = 0.0
    assert core.list_namespace().items


def test_unknown_paths_answer_status(lab_api: LabApiServer) -> None:
    request = urllib.request.Request(
        f"{lab_api.url}/api/v1/widgets", headers={"Authorization": f"Bearer {lab_api.token}"}
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, context=context, timeout=5)
    body = json.loads(caught.value.read())
    assert (caught.value.code, body["reason"]) == (404, "NotFound")


def test_starts_fast_and_cleans_up() -> None:
    started = time.monotonic()
    with serve_lab_api(lab_nodes("ctdtest-never-entered")) as server:
        elapsed = time.monotonic() - started
        workdir = server.kubeconfig.parent
        assert server.kubeconfig.is_file() and server.url.startswith("https://127.0.0.1:")
    assert elapsed < 0.5, f"the server took {elapsed:.2f} s to start"
    assert not workdir.exists()
