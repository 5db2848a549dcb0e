"""Collect many nodes at once, at most ``max_parallel`` at a time, with progress.

Each node's sample is two pieces of work: the full snapshot, then the counters again a
window later. Only the pieces hold a worker: the window is a timer, so 50 nodes with a
10 s window take about one window plus their collection time spread over the workers,
not 50 windows. Work that only waits on the cluster (starting debug pods) happens in
``prepare`` for all requested nodes together, before any collection starts.

Progress from the workers is queued and handed to the caller's thread in :meth:`result`
and :meth:`drain`: pytest's terminal is not thread-safe.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from datetime import UTC, datetime

from ctdiag.collect.collector import Progress, collect_first, collect_followup
from ctdiag.collect.node_targets import NodeTarget, SampleRecorder, TargetKind
from ctdiag.collect.plan import DEFAULT_MAX_PARALLEL
from ctdiag.collect.runners import CommandRunner
from ctdiag.collect.store.run_reader import load_sample
from ctdiag.errors import CtdiagError
from ctdiag.model.outputs import Snapshot
from ctdiag.model.samples import NodeSample
from ctdiag.model.table import ConntrackTable

#: How often a waiting caller wakes to print queued progress.
POLL_S = 0.2

#: A runner for a target (for debug pods: the node's pod, started by ``prepare``).
RunnerFactory = Callable[[NodeTarget], CommandRunner]
#: Called once with every batch of requested targets before their collection starts.
Prepare = Callable[[Sequence[NodeTarget]], None]


class ProgressQueue:
    """Progress lines from any thread, printed later by the one thread that owns the terminal."""

    def __init__(self) -> None:
        self._messages: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()

    def report(self, node: str, message: str) -> None:
        """Queue one line (thread-safe)."""
        self._messages.put((node, message))

    def drain(self, progress: Progress) -> None:
        """Hand every queued line to ``progress``, oldest first."""
        while True:
            try:
                node, message = self._messages.get_nowait()
            except queue.Empty:
                return
            progress(node, message)


def default_runner(target: NodeTarget) -> CommandRunner:
    """The target's own runner (this machine, or ``ip netns exec``)."""
    return target.runner()


def no_preparation(targets: Sequence[NodeTarget]) -> None:
    """Nothing to do before collecting (local and namespace targets)."""
    del targets


class SampleScheduler:
    """Samples of the requested targets, collected concurrently (see module docstring).

    Args:
        window_s: seconds between the two counter samples (0: one snapshot only).
        max_parallel: pieces of collection running at once.
        runner_for: how a target's commands run.
        prepare: work done for a batch of targets before collection (debug pods).
        recorders: told every sample or failure (``--save-snapshot``).
        messages: where progress lines wait for :meth:`drain` (shared with ``prepare``).
    """

    def __init__(
        self, *, window_s: float, max_parallel: int = DEFAULT_MAX_PARALLEL,
        runner_for: RunnerFactory = default_runner, prepare: Prepare = no_preparation,
        recorders: Sequence[SampleRecorder] = (), messages: ProgressQueue | None = None,
    ) -> None:  # fmt: skip
        if max_parallel < 1:
            raise CtdiagError(f"max_parallel must be at least 1, got {max_parallel}")
        self.window_s = window_s
        self._runner_for = runner_for
        self._prepare = prepare
        self._recorders = list(recorders)
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="ctdiag-collect")
        self._futures: dict[str, Future[NodeSample]] = {}
        self._timers: list[threading.Timer] = []
        self.messages = messages or ProgressQueue()
        self._progress = self.messages.report
        self._lock = threading.Lock()
        self._closed = False

    def drain(self, progress: Progress) -> None:
        """Hand every queued progress line to ``progress`` (call from the main thread)."""
        self.messages.drain(progress)

    def request(self, targets: Sequence[NodeTarget], progress: Progress) -> None:
        """Start collecting every target of ``targets`` not requested before."""
        new = [t for t in targets if t.node not in self._futures]
        if not new:
            return
        futures: dict[str, Future[NodeSample]] = {t.node: Future() for t in new}
        self._futures.update(futures)
        try:
            self._prepared(new, progress)
        except CtdiagError as exc:  # e.g. the run's namespace: every node of the batch fails
            for target in new:
                self._fail(target.node, futures[target.node], exc)
            return
        for target in new:
            self._pool.submit(self._first, target, futures[target.node])
        self.drain(progress)

    def runner(self, target: NodeTarget) -> CommandRunner:
        """The runner the target's commands run with (its debug pod's on a cluster).

        Raises:
            CtdiagError: the target runs nothing (a saved snapshot) or cannot be reached.
        """
        return self._runner_for(target)

    def _prepared(self, targets: Sequence[NodeTarget], progress: Progress) -> None:
        """Run ``prepare`` on a helper thread, printing its progress while it works (pods
        starting can take minutes); Ctrl-C still reaches the caller at once."""
        outcome: list[BaseException] = []

        def work() -> None:
            try:
                self._prepare(targets)
            except BaseException as exc:  # handed to the caller's thread below
                outcome.append(exc)

        helper = threading.Thread(target=work, name="ctdiag-prepare", daemon=True)
        helper.start()
        while helper.is_alive():
            helper.join(POLL_S)
            self.drain(progress)
        if outcome:
            raise outcome[0]

    def result(self, node: str, progress: Progress) -> NodeSample:
        """The node's sample, waiting for it while printing progress.

        Raises:
            CtdiagError: the node could not be collected (one line).
        """
        future = self._futures[node]
        while True:
            self.drain(progress)
            try:
                sample = future.result(timeout=POLL_S)
            except TimeoutError:
                continue
            self.drain(progress)
            return sample

    def _first(self, target: NodeTarget, future: Future[NodeSample]) -> None:
        try:
            if target.kind is TargetKind.SNAPSHOT:
                assert target.saved is not None
                where = f" from {target.saved.before}" if target.saved.before else ""
                self._progress(target.node, f"loading the saved sample{where}")
                self._finish(target.node, future, load_sample(target.saved))
                return
            runner = self._runner_for(target)
            first, table = collect_first(runner, self._progress)
        except CtdiagError as exc:
            self._fail(target.node, future, exc)
            return
        except BaseException as exc:  # a bug: still end the future, so nobody waits forever
            _settle(future, exc)
            raise
        if self.window_s <= 0:
            self._finish(target.node, future, NodeSample(first, table=table))
            return
        self._progress(target.node, f"sampling counters for {self.window_s:g} s")
        elapsed = (datetime.now(UTC) - first.collected_at).total_seconds()
        timer = threading.Timer(
            max(0.0, self.window_s - elapsed),
            lambda: self._submit(self._second, target.node, runner, first, table, future),
        )
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.append(timer)
        timer.start()

    def _submit(self, *args: object) -> None:
        with self._lock:
            if not self._closed:
                self._pool.submit(*args)  # type: ignore[arg-type]

    def _second(self, node: str, runner: CommandRunner, first: Snapshot,
                table: ConntrackTable | None, future: Future[NodeSample]) -> None:  # fmt: skip
        try:
            after = collect_followup(runner, first)
        except CtdiagError as exc:
            self._fail(node, future, exc)
            return
        self._finish(node, future, NodeSample(first, after, table=table))

    def _finish(self, node: str, future: Future[NodeSample], sample: NodeSample) -> None:
        try:
            for recorder in self._recorders:
                recorder.record(sample)
        except CtdiagError as exc:
            _settle(future, exc)
            return
        _settle(future, sample)

    def _fail(self, node: str, future: Future[NodeSample], exc: CtdiagError) -> None:
        for recorder in self._recorders:
            with contextlib.suppress(CtdiagError):
                recorder.record_failure(node, str(exc))
        _settle(future, exc)

    def close(self) -> None:
        """Stop: pending windows are cancelled, queued work dropped, running pieces left to
        end on their own timeouts (their pods or namespaces are being removed)."""
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for future in self._futures.values():
            _settle(future, CtdiagError("collection cancelled: the run is ending"))


def _settle(future: Future[NodeSample], outcome: NodeSample | BaseException) -> None:
    """End ``future`` unless it already ended (a worker finishing after :meth:`close`)."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        pass
