"""The simulated kubelet and the watches, through the official client: phases, image
pulls, unready nodes, deadlines, deletion and namespace cascades.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch

from ctdiag.lab.apiserver.server import LabApiServer
from tests.lab.apiserver.conftest import NODE, NOT_READY
from tests.lab.apiserver.kube_objects import MINIMAL, NETSHOOT, debug_pod, running, wait_for


def _waiting_reason(pod: client.V1Pod) -> str | None:
    statuses = pod.status.container_statuses or []
    waiting = statuses[0].state.waiting if statuses else None
    return None if waiting is None else str(waiting.reason)


def test_pod_runs_after_start_latency(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    lab_api.faults.pod_start_latency_s = 0.3
    started = time.monotonic()
    name = core.create_namespaced_pod("default", debug_pod(NODE, image=NETSHOOT)).metadata.name
    pending = wait_for(core, "default", name, lambda p: _waiting_reason(p) is not None)
    assert pending.status.phase == "Pending"
    assert _waiting_reason(pending) == "ContainerCreating"
    pod = wait_for(core, "default", name, running)
    assert time.monotonic() - started >= 0.3
    assert pod.status.host_ip == pod.status.pod_ip == "198.18.0.11"
    assert pod.status.start_time is not None
    conditions = {c.type: c.status for c in pod.status.conditions}
    assert conditions["Ready"] == conditions["PodScheduled"] == "True"
    status = pod.status.container_statuses[0]
    assert status.ready and status.started and status.restart_count == 0
    assert status.state.running.started_at is not None
    assert status.container_id.startswith("cri-o://")
    assert status.image == NETSHOOT and "@sha256:" in status.image_id


def test_watch_by_field_selector_ends_on_time(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    lab_api.faults.pod_start_latency_s = 0.2
    name = core.create_namespaced_pod("default", debug_pod(NODE)).metadata.name
    core.create_namespaced_pod("default", debug_pod(NODE, name="bystander"))
    seen: list[tuple[str, str, str]] = []
    started = time.monotonic()
    for event in watch.Watch().stream(
        core.list_namespaced_pod, "default", field_selector=f"metadata.name={name}",
        timeout_seconds=1,
    ):
        pod = event["object"]
        seen.append((event["type"], pod.metadata.name, pod.status.phase))
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.0, f"watch with timeoutSeconds=1 lasted {elapsed:.2f} s"
    assert seen[0] == ("ADDED", name, "Pending")
    assert {n for _, n, _ in seen} == {name}
    assert seen[-1] == ("MODIFIED", name, "Running")


def test_watch_from_a_resource_version_sends_only_later_events(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    before = core.create_namespaced_pod("default", debug_pod(NODE, name="before"))
    wait_for(core, "default", "before", running)
    version = core.list_namespaced_pod("default").metadata.resource_version
    events: list[tuple[str, str]] = []

    def follow() -> None:
        watcher = watch.Watch()
        for event in watcher.stream(
            core.list_namespaced_pod, "default", resource_version=version, timeout_seconds=2,
            label_selector="app.kubernetes.io/managed-by=ctdiag",
        ):
            events.append((event["type"], event["object"].metadata.name))
            if events[-1] == ("DELETED", "before"):
                watcher.stop()

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.2)
    core.create_namespaced_pod("default", debug_pod(NODE, name="after"))
    core.delete_namespaced_pod(before.metadata.name, "default", grace_period_seconds=0)
    follower.join(5)
    assert ("ADDED", "after") in events
    assert ("DELETED", "before") in events
    assert ("ADDED", "before") not in events


def test_unknown_image_fails_to_pull_then_backs_off(core: client.CoreV1Api) -> None:
    image = "quay.io/nobody/nothing:1"
    name = core.create_namespaced_pod("default", debug_pod(NODE, image=image)).metadata.name
    pulling = wait_for(core, "default", name, lambda p: _waiting_reason(p) == "ErrImagePull")
    message = pulling.status.container_statuses[0].state.waiting.message
    assert message.startswith(f'Failed to pull image "{image}"') and "not found" in message
    assert pulling.status.phase == "Pending"
    backoff = wait_for(core, "default", name, lambda p: _waiting_reason(p) == "ImagePullBackOff")
    assert backoff.status.container_statuses[0].state.waiting.message == (
        f'Back-off pulling image "{image}"'
    )


def test_image_pull_fault_fails_known_images(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    lab_api.faults.image_pull_failure = True
    name = core.create_namespaced_pod("default", debug_pod(NODE, image=MINIMAL)).metadata.name
    wait_for(core, "default", name, lambda p: _waiting_reason(p) == "ErrImagePull")


def test_pods_that_never_start(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    lab_api.faults.pods_never_start = True
    name = core.create_namespaced_pod("default", debug_pod(NODE)).metadata.name
    time.sleep(0.3)
    pod = core.read_namespaced_pod(name, "default")
    assert pod.status.phase == "Pending" and not pod.status.container_statuses


def test_missing_and_unready_nodes_leave_pods_pending(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    lost = core.create_namespaced_pod("default", debug_pod("no-such-node")).metadata.name
    waiting = core.create_namespaced_pod("default", debug_pod(NOT_READY)).metadata.name
    time.sleep(0.3)
    for name in (lost, waiting):
        pod = core.read_namespaced_pod(name, "default")
        assert pod.status.phase == "Pending" and not pod.status.container_statuses
    lab_api.set_node_ready(NOT_READY, True)
    ready = {c.type: c.status for c in core.read_node(NOT_READY).status.conditions}["Ready"]
    assert ready == "True"
    assert wait_for(core, "default", waiting, running).status.host_ip == "198.18.0.12"
    assert core.read_namespaced_pod(lost, "default").status.phase == "Pending"


def test_pod_without_node_name_is_scheduled(core: client.CoreV1Api) -> None:
    body = debug_pod(NODE)
    body.spec.node_name = None
    name = core.create_namespaced_pod("default", body).metadata.name
    assert wait_for(core, "default", name, running).spec.node_name == NODE


def test_active_deadline_fails_the_pod(core: client.CoreV1Api) -> None:
    name = core.create_namespaced_pod("default", debug_pod(NODE, deadline=1)).metadata.name
    wait_for(core, "default", name, running)
    failed = wait_for(core, "default", name, lambda p: p.status.phase == "Failed", timeout=3)
    assert failed.status.reason == "DeadlineExceeded"
    assert failed.status.container_statuses[0].state.terminated.exit_code == 137


def test_graceful_delete_marks_then_removes(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    name = core.create_namespaced_pod("default", debug_pod(NODE)).metadata.name
    wait_for(core, "default", name, running)
    answer = core.delete_namespaced_pod(name, "default")
    assert answer.metadata.deletion_timestamp is not None
    assert lab_api.deletes()[-1].grace_period_seconds is None
    end = time.monotonic() + 3
    while lab_api.pods() and time.monotonic() < end:
        time.sleep(0.02)
    assert lab_api.pods() == []


def test_namespace_delete_cascades_with_events(
    core: client.CoreV1Api, lab_api: LabApiServer
) -> None:
    namespace = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="ctdiag-debug"))
    ).metadata.name
    for index in range(2):
        core.create_namespaced_pod(namespace, debug_pod(NODE, name=f"p{index}"))
    wait_for(core, namespace, "p1", running)
    version = core.list_pod_for_all_namespaces().metadata.resource_version
    events: list[tuple[str, str, Any]] = []

    def follow() -> None:
        watcher = watch.Watch()
        for event in watcher.stream(
            core.list_namespace, resource_version=version, timeout_seconds=2
        ):
            events.append((event["type"], event["object"].metadata.name,
                           event["object"].status.phase))
            if event["type"] == "DELETED":
                watcher.stop()

    follower = threading.Thread(target=follow)
    follower.start()
    # The client types the answer V1Status; the Namespace it gets stays a dict.
    answer = core.delete_namespace(namespace)
    assert answer["status"]["phase"] == "Terminating"
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(namespace, debug_pod(NODE))
    assert refused.value.status == 403 and "being terminated" in refused.value.body
    follower.join(5)
    assert ("MODIFIED", namespace, "Terminating") in events
    assert events[-1][:2] == ("DELETED", namespace)
    assert lab_api.pods(namespace) == []
    assert namespace not in lab_api.namespaces()
    with pytest.raises(client.ApiException) as gone:
        core.read_namespace(namespace)
    assert gone.value.status == 404


def test_node_watch_sees_readiness_flip(core: client.CoreV1Api, lab_api: LabApiServer) -> None:
    version = core.list_node().metadata.resource_version
    events: list[tuple[str, str]] = []

    def follow() -> None:
        for event in watch.Watch().stream(
            core.list_node, resource_version=version, timeout_seconds=1,
            field_selector=f"metadata.name={NODE}",
        ):  # runs to its timeout: no other event may come
            ready = {c.type: c.status for c in event["object"].status.conditions}["Ready"]
            events.append((event["type"], ready))

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.1)
    lab_api.set_node_ready(NODE, False)
    lab_api.set_node_ready(NOT_READY, True)
    follower.join(5)
    assert events == [("MODIFIED", "False")]
