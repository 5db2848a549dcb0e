"""One run's debug pods: at most one per node, shared by all its checks, all removed at the end.

:class:`DebugPodSession` is a context manager. ``start(nodes)`` checks each node is Ready,
creates the namespace (unless ``--namespace`` names one), creates the pods and waits for all
of them with one watch; ``runner(node)`` gives the node's
:class:`~ctdiag.collect.kube.pod_runner.DebugPodRunner`, or raises the one-line reason the node
cannot be reached.

Leaving the context (:meth:`DebugPodSession.close`) deletes every pod of the run (by label,
so a pod whose create was interrupted mid-request goes too) and the temporary namespace, all
at once, within 30 s (:mod:`~ctdiag.collect.kube.teardown`). Ctrl-C and SIGTERM are held
meanwhile (:func:`~ctdiag.collect.kube.interrupts.signals_held`): a second signal cannot cut
the cleanup short; it is obeyed once the cleanup is done. Whatever could not be removed is one
line naming it and ``python -m ctdiag cleanup --run-id RUN``; ``activeDeadlineSeconds``
stops the pods even if we are killed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.interrupts import signals_held
from ctdiag.collect.kube.manifests import (
    DEFAULT_DEADLINE_S,
    DEFAULT_IMAGE,
    DebugPodSpec,
    namespace_name,
    new_run_id,
)
from ctdiag.collect.kube.nodes import check_ready
from ctdiag.collect.kube.pod_runner import DebugPod, DebugPodRunner
from ctdiag.collect.kube.pods import (
    PodProgress,
    create_namespace,
    create_pod,
    wait_running,
)
from ctdiag.collect.kube.policy import DEFAULT_START_TIMEOUT_S
from ctdiag.collect.kube.teardown import CLOSE_BUDGET_S, CleanupIncomplete, remove_run
from ctdiag.errors import ApiError, ClusterError, CtdiagError

#: Of the end-of-run cleanup's time, what waiting for pod creates in flight may take (they
#: are bounded calls themselves).
CREATES_WAIT_S = 10.0
#: Pods created at once (each is one POST; waiting is one watch for all).
CREATE_PARALLEL = 16


@dataclass(frozen=True, slots=True)
class PodOptions:
    """How debug pods are made.

    Attributes:
        namespace: an existing namespace to use; ``None`` creates a temporary one.
        image: the container image.
        start_timeout_s: how long a pod may take to run.
        deadline_s: ``activeDeadlineSeconds`` of every pod.
        close_budget_s: how long the end-of-run cleanup may take.
    """

    namespace: str | None = None
    image: str = DEFAULT_IMAGE
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    deadline_s: int = DEFAULT_DEADLINE_S
    close_budget_s: float = CLOSE_BUDGET_S


def _quiet(node: str, message: str) -> None:
    del node, message


class DebugPodSession:
    """Debug pods of one run on one cluster (see the module docstring).

    ``worker`` names the xdist worker: each has its namespace, all share the run id.
    ``notice_fd`` is where a signal held during :meth:`close` is announced (stderr).
    """

    def __init__(self, cluster: Cluster, options: PodOptions = PodOptions(), *,
                 run_id: str | None = None, worker: str = "",
                 progress: PodProgress = _quiet, notice_fd: int = 2) -> None:  # fmt: skip
        self.cluster = cluster
        self.options = options
        self.run_id = run_id or new_run_id()
        self.worker = worker
        self.namespace = options.namespace or ""
        self._own_namespace = False  # ours to delete: a create was sent (it may have landed)
        self._namespace_ready = bool(options.namespace)
        self._progress = progress
        self._notice_fd = notice_fd
        self._pods: dict[str, DebugPod | CtdiagError] = {}
        self._runners: dict[str, DebugPodRunner] = {}
        self._creating = threading.Lock()
        self._closing = threading.Event()
        self.signals_while_closing: list[str] = []
        """Signals held during :meth:`close` (outermost holder only), e.g. ``["SIGINT"]``."""

    def __enter__(self) -> DebugPodSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        try:
            self.close()
        except CleanupIncomplete as left:
            if not isinstance(exc, CtdiagError):
                raise
            # One line with both, the cause first; the error keeps its type and fields.
            exc.args = (f"{exc}; and {left}",)
        if self.signals_while_closing and exc is None:
            # Held while the pods were removed: obeyed now.
            raise KeyboardInterrupt(f"signal {self.signals_while_closing[0]}")

    def start(self, nodes: Sequence[str]) -> None:
        """Start a pod on every node of ``nodes`` that has none yet; wait until they run.

        A node's failure (missing, NotReady, forbidden, image, timeout) is kept for
        :meth:`runner` to raise; only a failure for every node at once (the namespace cannot
        be created) raises here.

        Raises:
            ClusterError: the run's namespace cannot be created.
        """
        # Creating holds the lock, waiting does not: close() (perhaps on Ctrl-C, while a
        # worker thread is here) waits for creates in flight, then nothing new is created.
        with self._creating:
            if self._closing.is_set():
                raise ClusterError("the run is ending: no debug pod started")
            todo = [node for node in dict.fromkeys(nodes) if node not in self._pods]
            if not todo:
                return
            # Every node is checked first (it exists and is Ready): a run whose nodes are all
            # unknown or NotReady creates no namespace and no pod at all.
            with ThreadPoolExecutor(max_workers=min(CREATE_PARALLEL, len(todo))) as pool:
                refused = dict(zip(todo, pool.map(self._refusal, todo), strict=True))
            self._pods.update((n, e) for n, e in refused.items() if e is not None)
            todo = [node for node in todo if refused[node] is None]
            if not todo:
                return
            if not self._namespace_ready:
                # Named before the create: one that timed out may still land, and close()
                # deletes it then.
                self.namespace = namespace_name(self.run_id, self.worker)
                self._own_namespace = True
                create_namespace(self.cluster, self.run_id, self.worker)
                self._namespace_ready = True
                self._progress("", f"namespace {self.namespace} created for debug pods")
            specs = {
                node: DebugPodSpec(node, self.namespace, self.options.image, self.run_id,
                                   self.options.deadline_s)
                for node in todo
            }
            with ThreadPoolExecutor(max_workers=min(CREATE_PARALLEL, len(todo))) as pool:
                created = dict(zip(todo, pool.map(self._create, specs.values()), strict=True))
            waiting = {specs[n].name: specs[n] for n, error in created.items() if error is None}
            self._pods.update((n, e) for n, e in created.items() if e is not None)
        if waiting:
            self._pods.update(wait_running(
                self.cluster, self.namespace, self.run_id, waiting,
                timeout=self.options.start_timeout_s, progress=self._progress,
            ))  # fmt: skip

    def _refusal(self, node: str) -> CtdiagError | None:
        """Why ``node`` cannot take a debug pod (missing, NotReady), or ``None``. An API that
        fails to answer fails the whole start, as a namespace it cannot create would."""
        try:
            check_ready(self.cluster, node)
        except ApiError:
            raise
        except CtdiagError as exc:
            return exc
        return None

    def _create(self, spec: DebugPodSpec) -> CtdiagError | None:
        try:
            create_pod(self.cluster, spec)
        except CtdiagError as exc:
            return exc
        self._progress(spec.node, f"starting debug pod {spec.namespace}/{spec.name} "
                                  f"({spec.image})")  # fmt: skip
        return None

    def runner(self, node: str) -> DebugPodRunner:
        """The node's runner, starting its pod first if :meth:`start` was not called for it.

        Raises:
            ClusterError: the node cannot take a debug pod, or its pod did not start.
        """
        if node not in self._pods:
            self.start([node])
        pod = self._pods.get(node) or ClusterError("no debug pod (the run is ending)", node=node)
        if isinstance(pod, CtdiagError):
            raise pod
        if node not in self._runners:
            self._runners[node] = DebugPodRunner(self.cluster.configuration, pod)
        return self._runners[node]

    def pods(self) -> dict[str, DebugPod]:
        """node -> its running debug pod."""
        return {node: pod for node, pod in self._pods.items() if isinstance(pod, DebugPod)}

    def close(self) -> None:
        """Delete this run's pods and the temporary namespace, with Ctrl-C and SIGTERM held
        (bounded by :data:`CLOSE_BUDGET_S`; says what is left).

        Raises:
            CleanupIncomplete: something could not be deleted: one line naming it and the
                command that removes it.
        """
        budget = self.options.close_budget_s
        note = f"removing this run's debug pods first (at most {budget:g} s; run id {self.run_id})"
        with signals_held(note, fd=self._notice_fd) as held:
            # The list is filled when the hold ends, also when removal raised.
            self.signals_while_closing = held.received
            self._remove_everything(time.monotonic() + budget)

    def _remove_everything(self, deadline: float) -> None:
        self._closing.set()
        # Creates in flight end first (nothing new starts once closing is set).
        wait = max(0.0, min(CREATES_WAIT_S, deadline - time.monotonic()))
        creates_done = self._creating.acquire(timeout=wait)
        if creates_done:
            self._creating.release()
        if not self.namespace:
            return
        extra = {} if creates_done or self._own_namespace else {
            "any pod still being created": f"creates did not end within {CREATES_WAIT_S:g} s"
        }  # fmt: skip
        pods = remove_run(
            self.cluster, self.namespace, self.run_id, own_namespace=self._own_namespace,
            known=[pod.name for pod in self.pods().values()], deadline=deadline,
            budget_s=self.options.close_budget_s, also_left=extra,
        )  # fmt: skip
        if self._own_namespace:
            self._progress("", f"namespace {self.namespace} deleted with {pods} debug pods")
        elif pods:
            self._progress("", f"{pods} debug pods deleted")
