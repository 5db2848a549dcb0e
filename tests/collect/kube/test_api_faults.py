"""The API misbehaving, against the lab API with the official client: a silent server costs
one request per attempt and gives up within the documented budget; bursts of 500s at
start-up and teardown are survived; what teardown cannot remove is one line naming it and
the cleanup command; an exec upgrade never answered ends at the command's timeout; every
error is one line, whatever the node name or the server says."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from ctdiag.collect.kube.access import AccessOptions, Cluster, connect, one_line
from ctdiag.collect.kube.pod_runner import GZIP_SCRIPT, GZIP_SCRIPT_NAME
from ctdiag.collect.kube.pods import sweep
from ctdiag.collect.kube.policy import RETRY_DELAYS_S, call_budget_s
from ctdiag.collect.kube.session import DebugPodSession, PodOptions
from ctdiag.collect.kube.teardown import CleanupIncomplete
from ctdiag.errors import ApiError, ClusterError, CollectionError
from ctdiag.lab.apiserver.server import LabApiServer
from tests.collect.kube.conftest import assert_nothing_left

pytestmark = pytest.mark.needs_root

NETSHOOT = "nicolaka/netshoot:v0.13"
ATTEMPTS = len(RETRY_DELAYS_S) + 1
#: Slack over a documented bound, for a loaded machine (a hang guard, not a speed goal).
SLACK_S = 5.0


@pytest.fixture
def slow_cluster(lab_api: LabApiServer) -> Iterator[Cluster]:
    """The client with ``--api-timeout 2``."""
    cluster = connect(AccessOptions(str(lab_api.kubeconfig), request_timeout_s=2))
    try:
        yield cluster
    finally:
        cluster.close()


def _attempts(error: BaseException) -> int:
    found = re.search(r"\((\d+) attempts in [\d.]+ s\)", str(error))
    assert found, str(error)
    return int(found[1])


def test_a_silent_api_server_costs_one_request_per_attempt_within_the_call_budget(
    slow_cluster: Cluster, lab_api: LabApiServer
) -> None:
    lab_api.faults.response_delay_s = 4  # above --api-timeout 2
    started = time.monotonic()
    with pytest.raises(ApiError, match="list nodes: no answer from the API server") as info:
        slow_cluster.call("list nodes", slow_cluster.core.list_node)
    took = time.monotonic() - started
    lab_api.faults.response_delay_s = 0
    sent = [path for method, path in lab_api.requests() if path.startswith("/api/v1/nodes")]
    # urllib3's own retries would make each attempt 4 requests (12 for the call).
    assert len(sent) == _attempts(info.value) <= ATTEMPTS
    assert 2 * 2 <= took <= call_budget_s(2) + SLACK_S
    assert "\n" not in str(info.value)


def test_a_silent_api_server_fails_the_start_then_the_close_within_their_budgets(
    slow_cluster: Cluster, lab_api: LabApiServer
) -> None:
    # The node is read in time; then the API goes silent for the namespace's create (and,
    # below, for its delete).
    lab_api.faults.response_delay_match = "/namespaces"
    lab_api.faults.response_delay_s = 4
    pods = DebugPodSession(slow_cluster, PodOptions(close_budget_s=6))
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"create namespace ctdiag-\w+: no answer"):
        pods.start(["worker-a"])
    assert time.monotonic() - started <= call_budget_s(2) + SLACK_S
    started = time.monotonic()
    # The create may still land after we gave up: close deletes the namespace it named.
    with pytest.raises(CleanupIncomplete, match=f"namespace {pods.namespace} "):
        pods.close()
    assert time.monotonic() - started <= 6 + SLACK_S
    lab_api.faults.response_delay_s = 0
    # The delayed create landed, then the delayed delete: nothing left (else: cleanup).
    assert_nothing_left(lab_api, within_s=15)


@pytest.mark.parametrize(
    "match",
    ["", "GET /api/v1/nodes/", "POST /api/v1/namespaces/ctdiag-", "watch=true"],
    ids=["namespace create", "node read", "pod create", "pod watch"],
)
def test_a_burst_of_four_500s_at_start_is_survived(
    cluster: Cluster, lab_api: LabApiServer, match: str
) -> None:
    lab_api.faults.server_errors_match = match
    lab_api.faults.server_errors = ATTEMPTS - 1
    with DebugPodSession(cluster) as pods:
        pods.runner("worker-a")
    assert lab_api.faults.server_errors == 0  # every one was answered, and survived


def test_a_burst_of_four_500s_at_teardown_is_survived(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster) as pods:
        pods.start(["worker-a", "worker-b"])
        lab_api.faults.server_errors_match = "DELETE "
        lab_api.faults.server_errors = ATTEMPTS - 1
    assert lab_api.faults.server_errors == 0
    assert lab_api.pods() == []


def test_a_persistent_500_at_start_is_one_line_within_the_budget(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    lab_api.faults.server_errors = 100_000
    started = time.monotonic()
    with pytest.raises(ApiError, match="HTTP 500") as info, DebugPodSession(cluster) as pods:
        pods.start(["worker-a"])
    lab_api.faults.server_errors = 0
    assert time.monotonic() - started <= 2 * call_budget_s(5) + SLACK_S  # start, then close
    assert "\n" not in str(info.value)
    assert _attempts(info.value) == ATTEMPTS


@pytest.mark.parametrize("fault", ["403", "500"])
def test_what_teardown_cannot_remove_is_one_line_naming_it_and_the_cleanup_command(
    cluster: Cluster, lab_api: LabApiServer, fault: str
) -> None:
    pods = DebugPodSession(cluster)
    pods.start(["worker-a", "worker-b"])
    names = sorted(p["metadata"]["name"] for p in lab_api.pods())
    if fault == "403":
        lab_api.faults.forbidden.update({("delete", "pods"), ("delete", "namespaces")})
    else:
        lab_api.faults.server_errors_match = "DELETE "
        lab_api.faults.server_errors = 100_000
    started = time.monotonic()
    with pytest.raises(CleanupIncomplete) as info:
        pods.close()
    assert time.monotonic() - started <= call_budget_s(5) + SLACK_S
    message = str(info.value)
    assert "\n" not in message
    assert info.value.left == [
        *(f"pod {pods.namespace}/{name}" for name in names), f"namespace {pods.namespace}"
    ]
    assert f"HTTP {fault}" in message
    assert message.endswith(f"; run: python -m ctdiag cleanup --run-id {pods.run_id}")
    lab_api.faults.forbidden.clear()
    lab_api.faults.server_errors = 0
    assert len(lab_api.pods()) == 2  # really left, as said
    assert sweep(cluster, run_id=pods.run_id).left == {}


def test_pods_whose_delete_is_refused_go_with_their_namespace(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster) as pods:
        pods.start(["worker-a"])
        lab_api.faults.forbidden.add(("delete", "pods"))
    # No error: the namespace's deletion takes them.


def test_slow_deletes_end_by_the_close_budget(lab_api: LabApiServer) -> None:
    cluster = connect(AccessOptions(str(lab_api.kubeconfig), request_timeout_s=1))
    try:
        pods = DebugPodSession(cluster, PodOptions(close_budget_s=4))
        pods.start(["worker-a", "worker-b"])
        lab_api.faults.response_delay_match = "DELETE "
        lab_api.faults.response_delay_s = 6
        started = time.monotonic()
        with pytest.raises(CleanupIncomplete, match=r"no answer|out of time") as info:
            pods.close()
        assert time.monotonic() - started <= 4 + SLACK_S
        assert "\n" not in str(info.value)
    finally:
        lab_api.faults.response_delay_s = 0
        cluster.close()
    assert_nothing_left(lab_api, within_s=15)  # the deletes sent did land, late


def test_a_node_name_with_a_newline_is_one_escaped_line(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster) as pods, pytest.raises(ClusterError) as info:
        pods.runner("worker-a\nworker-b")
    message = str(info.value)
    assert "\n" not in message and "'worker-a\\nworker-b' is not a node name" in message
    assert not [path for _, path in lab_api.requests() if "/nodes/" in path]


def test_a_gzipped_listing_cut_short_is_one_line_naming_the_script(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster, PodOptions(image=NETSHOOT)) as pods:
        runner = pods.runner("worker-a")
        lab_api.faults.exec_drop_after_bytes = 16
        with pytest.raises(CollectionError) as info:
            runner.run_streaming("entries", ("conntrack", "-L"), timeout=10,
                                 on_stdout=lambda data: None)  # fmt: skip
    assert any(GZIP_SCRIPT in argv for _, _, argv in lab_api.exec_log())  # it did go through it
    message = str(info.value)
    assert "\n" not in message and GZIP_SCRIPT not in message
    assert message.startswith("worker-a: ") and GZIP_SCRIPT_NAME in message
    assert message.endswith(f"sh -c {GZIP_SCRIPT_NAME} sh conntrack -L]")


def test_an_exec_upgrade_never_answered_fails_within_the_command_timeout(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster) as pods:
        runner = pods.runner("worker-a")
        lab_api.faults.exec_upgrade_delay_s = 60  # the connection is open, no answer comes
        started = time.monotonic()
        try:
            with pytest.raises(CollectionError) as info:
                runner.run("uname", ("uname", "-a"), timeout=2)
        finally:
            lab_api.faults.exec_upgrade_delay_s = 0
        took = time.monotonic() - started
        assert runner.run("uname", ("uname", "-a"), timeout=10).exit_status == 0  # it recovers
    message = str(info.value)
    assert "\n" not in message and message.startswith("worker-a: ")
    assert "no answer to the exec request within 2 s" in message and "uname -a" in message
    assert took <= 2 + SLACK_S  # the client's create_websocket would wait the full 60 s


def test_one_line_flattens_what_servers_and_nodes_say() -> None:
    assert one_line("pull failed:\n  manifest unknown\r\n") == "pull failed: manifest unknown"
    assert one_line("bell\x07 and escape\x1b[31m") == "bell\\x07 and escape\\x1b[31m"
    assert one_line("x" * 400) == "x" * 297 + "..."
