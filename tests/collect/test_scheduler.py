"""Many nodes at once: the window between counter samples holds no worker; failures stay
per node; closing cancels what is pending. Real commands on this machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from ctdiag.collect.node_targets import NodeTarget, TargetKind
from ctdiag.collect.runners import CommandRunner, LocalRunner
from ctdiag.collect.scheduler import SampleScheduler
from ctdiag.errors import CollectionError, CtdiagError
from ctdiag.model.outputs import CommandOutput


class Recording:
    """A real local runner that notes when each command of a node starts."""

    def __init__(self, node: str, log: list[tuple[str, str, float]], lock: threading.Lock):
        self._runner = LocalRunner(node)
        self._log = log
        self._lock = lock

    @property
    def node(self) -> str:
        return self._runner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        with self._lock:
            self._log.append((self.node, name, time.monotonic()))
        return self._runner.run(name, argv, timeout=timeout)


def _quiet(node: str, message: str) -> None:
    del node, message


def test_the_window_does_not_hold_a_worker() -> None:
    log: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    runners: dict[str, CommandRunner] = {}

    def runner_for(target: NodeTarget) -> CommandRunner:
        return runners.setdefault(target.node, Recording(target.node, log, lock))

    targets = [NodeTarget(name, TargetKind.LOCAL) for name in ("a", "b")]
    scheduler = SampleScheduler(window_s=1.0, max_parallel=1, runner_for=runner_for)
    try:
        scheduler.request(targets, _quiet)
        samples = {t.node: scheduler.result(t.node, _quiet) for t in targets}
    finally:
        scheduler.close()
    assert all(s.after is not None for s in samples.values())
    a_first = [t for node, name, t in log if node == "a"]
    b_first = min(t for node, _, t in log if node == "b")
    a_followup = samples["a"].after
    assert a_followup is not None
    followup_start = min(
        t for node, name, t in log if node == "a" and t >= b_first and name == "uname"
    )
    # With one worker, b's snapshot ran while a's window was open, before a's follow-up.
    assert a_first[0] < b_first < followup_start


def test_a_failing_node_fails_alone() -> None:
    def runner_for(target: NodeTarget) -> CommandRunner:
        if target.node == "bad":
            raise CollectionError("cannot reach it", node="bad")
        return LocalRunner(target.node)

    targets = [NodeTarget(n, TargetKind.LOCAL) for n in ("bad", "good")]
    scheduler = SampleScheduler(window_s=0, max_parallel=2, runner_for=runner_for)
    try:
        scheduler.request(targets, _quiet)
        with pytest.raises(CtdiagError, match=r"^bad: cannot reach it$"):
            scheduler.result("bad", _quiet)
        assert scheduler.result("good", _quiet).after is None
    finally:
        scheduler.close()


def test_a_failed_prepare_fails_the_whole_batch_with_its_reason() -> None:
    def prepare(targets: Sequence[NodeTarget]) -> None:
        raise CtdiagError("create namespace: HTTP 403 Forbidden")

    scheduler = SampleScheduler(window_s=0, prepare=prepare)
    try:
        scheduler.request([NodeTarget("x", TargetKind.LOCAL)], _quiet)
        with pytest.raises(CtdiagError, match="403"):
            scheduler.result("x", _quiet)
    finally:
        scheduler.close()


def test_close_cancels_open_windows() -> None:
    scheduler = SampleScheduler(window_s=60, max_parallel=1)
    lines: list[str] = []
    scheduler.request([NodeTarget("local", TargetKind.LOCAL)], _quiet)
    deadline = time.monotonic() + 30
    while not any("sampling counters" in line for line in lines):
        assert time.monotonic() < deadline
        scheduler.drain(lambda node, line: lines.append(line))
        time.sleep(0.05)
    started = time.monotonic()
    scheduler.close()
    with pytest.raises(CtdiagError, match="cancelled"):
        scheduler.result("local", _quiet)
    assert time.monotonic() - started < 5  # not the 60 s window
