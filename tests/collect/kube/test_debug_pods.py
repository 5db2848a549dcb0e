"""Debug pods against the lab API: the official client, real HTTPS and exec WebSocket, exec
running in a namespace with real flows. Every failure path gives one line naming the node
and the cause, within a bounded time, and leaves nothing behind (checked by the fixture)."""

from __future__ import annotations

import time

import pytest

from ctdiag.analyze.node_state import NodeState
from ctdiag.collect.collector import collect_sample
from ctdiag.collect.kube.access import AccessOptions, Cluster, connect
from ctdiag.collect.kube.manifests import MANAGED_BY_LABEL, RUN_LABEL
from ctdiag.collect.kube.pod_runner import GZIP_SCRIPT
from ctdiag.collect.kube.pods import sweep
from ctdiag.collect.kube.policy import call_budget_s
from ctdiag.collect.kube.session import DebugPodSession, PodOptions
from ctdiag.errors import (
    ApiError,
    ClusterError,
    CollectionError,
    DebugPodError,
    ForbiddenError,
)
from ctdiag.lab.apiserver.server import LabApiServer
from ctdiag.model.outputs import EntrySource
from tests.collect.kube.conftest import FLOWS

pytestmark = pytest.mark.needs_root

NETSHOOT = "nicolaka/netshoot:v0.13"
MINIMAL = "ctdiag.lab/minimal"


def _udp_flows(inspection: NodeState) -> set[int]:
    return {
        e.orig.dport
        for e in inspection.table
        if e.proto == "udp" and e.orig.dst == "127.0.0.1" and e.orig.dport
    }


@pytest.mark.parametrize(
    ("image", "node_name", "source", "argv0"),
    [
        (None, "worker-a", EntrySource.HOST_CLI, "chroot"),  # support-tools: no conntrack
        (NETSHOOT, "worker-a", EntrySource.CONNTRACK_CLI, "conntrack"),
        (MINIMAL, "worker-bare", EntrySource.PROC, "cat"),  # neither has it: /proc
    ],
)
def test_collects_the_real_table_through_the_source_the_node_has(
    cluster: Cluster, lab_api: LabApiServer, image: str | None, node_name: str,
    source: EntrySource, argv0: str,
) -> None:  # fmt: skip
    options = PodOptions(**({"image": image} if image else {}), start_timeout_s=20)
    with DebugPodSession(cluster, options) as pods:
        runner = pods.runner(node_name)
        sample = collect_sample(runner, window_s=0.5)
        listed = [p for p in lab_api.pods() if p["spec"]["nodeName"] == node_name]
        assert len(listed) == 1  # one pod per node, shared
    snapshot = sample.before
    assert snapshot.entry_source is source
    entries = snapshot.get("entries")
    assert entries is not None and entries.argv[0] == argv0
    assert sample.after is not None
    ports = _udp_flows(NodeState(sample))
    assert set(range(9000, 9000 + FLOWS)) <= ports
    # The listing went through gzip on the node when the image has sh and gzip.
    gzipped = any(GZIP_SCRIPT in argv for _, _, argv in lab_api.exec_log())
    assert gzipped is (image != MINIMAL)


def test_pod_spec_labels_and_deadline_on_the_server(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster, PodOptions(deadline_s=300)) as pods:
        pods.start(["worker-a", "worker-b"])
        stored = {p["spec"]["nodeName"]: p for p in lab_api.pods()}
        assert set(stored) == {"worker-a", "worker-b"}
        for pod in stored.values():
            spec = pod["spec"]
            assert spec["hostNetwork"] and spec["hostPID"] and spec["hostIPC"]
            assert spec["activeDeadlineSeconds"] == 300
            assert spec["containers"][0]["securityContext"]["privileged"] is True
            assert pod["metadata"]["labels"][MANAGED_BY_LABEL] == "ctdiag"
            assert pod["metadata"]["labels"][RUN_LABEL] == pods.run_id
        namespace = pods.namespace
        labels = cluster.core.read_namespace(namespace).metadata.labels
        assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert lab_api.pods() == []
    pod_deletes = [d for d in lab_api.deletes() if "/pods/" in d.path]
    assert len(pod_deletes) == 2
    assert all(d.grace_period_seconds == 0 for d in pod_deletes)


def _fails(cluster: Cluster, node: str, error: type[Exception], match: str,
           options: PodOptions | None = None, limit_s: float = 15) -> str:
    options = options or PodOptions(start_timeout_s=10)
    started = time.monotonic()
    with DebugPodSession(cluster, options) as pods, pytest.raises(error, match=match) as info:
        pods.runner(node)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{node}: ")
    assert time.monotonic() - started < limit_s
    return message


def test_image_pull_failure_fails_fast(cluster: Cluster) -> None:
    _fails(cluster, "worker-a", DebugPodError, "ErrImagePull|ImagePullBackOff",
           PodOptions(image="registry.example/none:1", start_timeout_s=60), limit_s=10)


def test_forbidden_pod_create_names_the_rbac_rule(cluster: Cluster, lab_api: LabApiServer) -> None:
    lab_api.faults.forbidden.add(("create", "pods"))
    _fails(cluster, "worker-a", ForbiddenError, 'cannot create resource "pods"')


def test_missing_scc_is_reported(cluster: Cluster, lab_api: LabApiServer) -> None:
    lab_api.faults.scc_denied = True
    _fails(cluster, "worker-a", ForbiddenError, "security context constraint")


def test_forbidden_namespace_create_fails_every_node(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    lab_api.faults.forbidden.add(("create", "namespaces"))
    with DebugPodSession(cluster) as pods, pytest.raises(ForbiddenError, match="namespaces"):
        pods.start(["worker-a", "worker-b"])


def test_not_ready_and_missing_nodes_get_no_pod_nor_namespace(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    _fails(cluster, "worker-down", ClusterError, "not Ready: Ready=False")
    _fails(cluster, "worker-gone", ClusterError, "no such node")
    posts = [p for m, p in lab_api.requests() if m == "POST"]
    assert posts == []  # every node is checked before the namespace is created


def test_nodes_are_checked_before_the_namespace_is_made(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster, PodOptions(start_timeout_s=20)) as pods:
        pods.start(["worker-gone", "worker-a"])
        with pytest.raises(ClusterError, match="no such node"):
            pods.runner("worker-gone")
        assert pods.runner("worker-a") is not None
    order = [(m, p) for m, p in lab_api.requests() if m in ("GET", "POST") and "/exec" not in p]
    namespace_post = next(k for k, (m, p) in enumerate(order) if m == "POST")
    node_reads = [k for k, (m, p) in enumerate(order) if m == "GET" and "/nodes/" in p]
    assert len(node_reads) >= 2 and max(node_reads) < namespace_post


def test_pod_that_never_starts_times_out(cluster: Cluster, lab_api: LabApiServer) -> None:
    lab_api.faults.pods_never_start = True
    message = _fails(cluster, "worker-a", DebugPodError, "not running after 1 s: phase Pending",
                     PodOptions(start_timeout_s=1), limit_s=8)
    assert "worker-a" in message


def test_exec_dropped_mid_stream_is_an_error_not_a_partial_table(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster, PodOptions(image=NETSHOOT)) as pods:
        runner = pods.runner("worker-a")
        lab_api.faults.exec_drop_after_bytes = 10
        cut = r"without an exit status \(cut short\)|broke"
        with pytest.raises(CollectionError, match=cut) as info:
            runner.run("entries", ("cat", "/proc/net/nf_conntrack"), timeout=10)
        assert str(info.value).startswith("worker-a: ")


def test_transient_5xx_is_retried_persistent_5xx_is_one_line(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    lab_api.faults.server_errors = 1
    with DebugPodSession(cluster) as pods:
        pods.runner("worker-a")
    lab_api.faults.server_errors = 1000
    started = time.monotonic()
    with pytest.raises(ApiError, match="HTTP 500") as info:
        DebugPodSession(cluster).start(["worker-a"])
    assert "\n" not in str(info.value)
    assert time.monotonic() - started < call_budget_s(5) + 5  # the documented bound, and slack
    lab_api.faults.server_errors = 0


def test_silent_api_server_times_out(lab_api: LabApiServer) -> None:
    cluster = connect(AccessOptions(str(lab_api.kubeconfig), request_timeout_s=0.5))
    lab_api.faults.response_delay_s = 3
    try:
        started = time.monotonic()
        with pytest.raises(ApiError, match="no answer from the API server"):
            DebugPodSession(cluster).start(["worker-a"])
        assert time.monotonic() - started < call_budget_s(0.5) + 5
    finally:
        lab_api.faults.response_delay_s = 0
        cluster.close()


def test_given_namespace_is_kept_and_emptied(cluster: Cluster, lab_api: LabApiServer) -> None:
    with DebugPodSession(cluster, PodOptions(namespace="default")) as pods:
        pods.runner("worker-a")
        assert [p["metadata"]["namespace"] for p in lab_api.pods()] == ["default"]
    assert "default" in lab_api.namespaces()


def test_cleanup_sweeps_what_a_killed_run_left(cluster: Cluster, lab_api: LabApiServer) -> None:
    abandoned = DebugPodSession(cluster)
    abandoned.start(["worker-a", "worker-b"])  # never closed: as if the run was killed
    assert len(lab_api.pods()) == 2
    swept = sweep(cluster)
    assert len(swept.pods) == 2 and swept.namespaces == [abandoned.namespace]
    assert swept.left == {}
