"""Ctrl-C and SIGTERM at every phase of a real ``python -m pytest`` (and ``python -m ctdiag``)
run against the lab API, deletes slowed so that teardown lasts long enough to be hit, and a
second signal during teardown: every run leaves no pod and no namespace of ours behind, and
ends in bounded time. Faults at teardown are one session line, never pinned on a check."""

from __future__ import annotations

import re
import signal
import sys
import time

import pytest

from ctdiag.collect.kube.teardown import CLOSE_BUDGET_S
from ctdiag.lab.apiserver.server import LabApiServer
from tests.collect.kube.conftest import assert_nothing_left
from tests.collect.kube.running import Running, deletes_seen, pytest_argv, wait_until

pytestmark = pytest.mark.needs_root

#: Every DELETE waits this long on the server: teardown lasts long enough to be hit.
SLOW_DELETE_S = 2.0
#: Hang guard from the (last) signal to the exit: the cleanup's budget plus a loaded
#: machine's interpreter exit (measured 4-15 s here), never a speed goal.
EXIT_WITHIN_S = CLOSE_BUDGET_S + 30
TEARDOWN = "first DELETE"
SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM


def _slow_deletes(api: LabApiServer) -> None:
    api.faults.response_delay_match = "DELETE "
    api.faults.response_delay_s = SLOW_DELETE_S


@pytest.mark.parametrize(
    ("marker", "first", "second", "window"),
    [
        pytest.param("starting debug pod", SIGTERM, None, 60, id="pod start-SIGTERM"),
        pytest.param("collecting from", SIGINT, None, 60, id="collection-SIGINT"),
        pytest.param("collecting from", SIGTERM, None, 60, id="collection-SIGTERM"),
        pytest.param("sampling counters", SIGINT, None, 60, id="sampling-SIGINT"),
        pytest.param("sampling counters", SIGTERM, None, 60, id="sampling-SIGTERM"),
        pytest.param("sampling counters", SIGINT, SIGINT, 60, id="sampling-SIGINT-again"),
        pytest.param("sampling counters", SIGTERM, SIGTERM, 60, id="sampling-SIGTERM-again"),
        pytest.param(TEARDOWN, SIGINT, None, 0, id="teardown-SIGINT"),
        pytest.param(TEARDOWN, SIGTERM, SIGINT, 0, id="teardown-SIGTERM-again"),
    ],
)
def test_a_signal_at_any_phase_leaves_nothing_behind(
    lab_api: LabApiServer, marker: str, first: signal.Signals,
    second: signal.Signals | None, window: int,
) -> None:  # fmt: skip
    _slow_deletes(lab_api)
    if marker == "starting debug pod":
        lab_api.faults.pod_start_latency_s = 60
    run = Running(pytest_argv(lab_api, "--node", "worker-a", "--node", "worker-b",
                              "--sample-seconds", str(window)))  # fmt: skip
    try:
        if marker == TEARDOWN:
            wait_until(lambda: deletes_seen(lab_api), 120, "teardown never began")
        else:
            run.wait_for(marker, timeout=60)
        assert lab_api.pods(), "the run made no pod to remove"
        sent = run.send(first)
        if second is not None:  # once the first one is being obeyed (or held)
            if marker == TEARDOWN:
                run.wait_for(f"{first.name} received", timeout=30)
            else:
                wait_until(lambda: deletes_seen(lab_api), 30, "teardown never began")
            sent = run.send(second)
        status = run.finish(timeout=EXIT_WITHIN_S)
    finally:
        run.kill()
    out = run.output
    assert time.monotonic() - sent < EXIT_WITHIN_S
    assert status != 0, out  # interrupted, also when the signal came during teardown
    assert_nothing_left(lab_api, within_s=SLOW_DELETE_S + 5)
    assert "could not remove" not in out and "ERROR at teardown" not in out, out
    if second is not None or marker == TEARDOWN:  # held, and said so
        assert "received: " in out and "debug pods first" in out, out
    if marker == TEARDOWN:
        assert f"ctdiag: {first.name} came while the debug pods were removed" in out, out


def _leftovers_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "could not remove" in line]


@pytest.mark.parametrize(
    ("fault", "workers"), [("refused", 0), ("5xx", 0), ("refused", 2)],
    ids=["403", "persistent 5xx", "403 under xdist"],
)
def test_what_teardown_cannot_remove_is_one_session_line_with_the_cleanup_command(
    lab_api: LabApiServer, fault: str, workers: int
) -> None:
    if fault == "refused":
        lab_api.faults.forbidden.update({("delete", "pods"), ("delete", "namespaces")})
    else:
        lab_api.faults.server_errors_match = "DELETE "
        lab_api.faults.server_errors = 100_000
    xdist = ["-n", str(workers)] if workers else []
    run = Running(pytest_argv(lab_api, *xdist, "--node", "worker-a", "--node", "worker-b",
                              "--sample-seconds", "0", "-k", "table_occupancy"))  # fmt: skip
    try:
        run.finish(timeout=180)
    finally:
        run.kill()
    out = run.output
    for node in ("worker-a", "worker-b"):  # the checks are not blamed for the teardown
        assert f"PASSED checks/test_capacity.py::test_table_occupancy[{node}]" in out, out
    assert "ERROR" not in out and "Traceback" not in out, out
    lines = _leftovers_lines(out)
    assert len(lines) == 1, out
    line = lines[0]
    assert line.startswith("ctdiag: could not remove pod ctdiag-"), line
    assert line.count("namespace ctdiag-") == (workers or 1), line  # each worker has one
    assert ("HTTP 403" if fault == "refused" else "HTTP 500") in line
    found = re.search(r"; run: python -m ctdiag cleanup --run-id ([0-9a-f]+)$", line)
    assert found, line
    lab_api.faults.forbidden.clear()
    lab_api.faults.server_errors = 0
    assert lab_api.pods(), "the leftovers named are really there"
    done = Running([sys.executable, "-m", "ctdiag", "cleanup", "--run-id", found[1],
                    f"--kubeconfig={lab_api.kubeconfig}"])  # fmt: skip
    assert done.finish(timeout=60) == 0, done.output
    assert_nothing_left(lab_api)


@pytest.mark.parametrize("where", ["start-up", "teardown"])
def test_a_burst_of_four_500s_is_survived(lab_api: LabApiServer, where: str) -> None:
    lab_api.faults.server_errors_match = "" if where == "start-up" else "DELETE "
    lab_api.faults.server_errors = 4
    run = Running(pytest_argv(lab_api, "--node", "worker-a", "--node", "worker-b",
                              "--sample-seconds", "0", "-k", "table_occupancy"))  # fmt: skip
    try:
        status = run.finish(timeout=180)
    finally:
        run.kill()
    out = run.output
    assert status == 0, out
    assert "ERROR" not in out and "could not remove" not in out, out
    assert lab_api.faults.server_errors == 0  # all four were answered
    assert_nothing_left(lab_api)


def test_conntrack_command_interrupted_during_teardown_still_removes_its_pod(
    lab_api: LabApiServer,
) -> None:
    _slow_deletes(lab_api)
    run = Running([sys.executable, "-m", "ctdiag", "conntrack", "worker-a", "-C",
                   f"--kubeconfig={lab_api.kubeconfig}"])  # fmt: skip
    try:
        wait_until(lambda: deletes_seen(lab_api), 60, "teardown never began")
        run.send(SIGINT)
        time.sleep(0.3)
        sent = run.send(SIGINT)  # twice, as an impatient user does
        status = run.finish(timeout=EXIT_WITHIN_S)
    finally:
        run.kill()
    assert time.monotonic() - sent < EXIT_WITHIN_S
    assert status == 130, run.output  # obeyed once the pod was gone
    assert "ctdiag conntrack: interrupted (signal SIGINT)" in run.output
    assert_nothing_left(lab_api, within_s=SLOW_DELETE_S + 5)


def test_a_node_name_with_a_newline_is_one_usage_line(lab_api: LabApiServer) -> None:
    run = Running(pytest_argv(lab_api, "--node", "worker-a\nrm -rf"))
    try:
        status = run.finish(timeout=60)
    finally:
        run.kill()
    errors = [line for line in run.output.splitlines() if "not a node name" in line]
    assert status == 4 and len(errors) == 1, run.output
    assert "'worker-a\\nrm -rf'" in errors[0]
    assert not lab_api.requests()
