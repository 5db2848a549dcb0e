"""One run's debug pods: at most one per node, shared by all its checks, all removed at the end.

:class:`DebugPodSession` is a context manager. ``start(nodes)`` checks each node is Ready,
creates the namespace (unless ``--namespace`` names one), creates the pods and waits for all
of them with one watch; ``runner(node)`` gives the node's
:class:`~ctdiag.collect.kube.pod_runner.DebugPodRunner`, or raises the one-line reason the node
cannot be reached.

Leaving the context (:meth:`DebugPodSession.close`) deletes every pod of the run (by label,
so a pod whose create was interrupted mid-request goes too) and the temporary namespace, all
at once, within :data:`CLOSE_BUDGET_S`. Ctrl-C and SIGTERM are held meanwhile
(:func:`~ctdiag.collect.kube.interrupts.signals_held`): a second signal cannot cut the
cleanup short; it is obeyed once the cleanup is done. Whatever could not be removed is one
line naming it and ``python -m ctdiag cleanup --run-id RUN``; ``activeDeadlineSeconds``
stops the pods even if we are killed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.interrupts import signals_held
from ctdiag.collect.kube.manifests import (
    DEFAULT_DEADLINE_S,
    DEFAULT_IMAGE,
    RUN_LABEL,
    DebugPodSpec,
    namespace_name,
    new_run_id,
)
from ctdiag.collect.kube.nodes import check_ready
from ctdiag.collect.kube.pod_runner import DebugPod, DebugPodRunner
from ctdiag.collect.kube.pods import (
    DEFAULT_START_TIMEOUT_S,
    PodProgress,
    create_namespace,
    create_pod,
    delete_namespace,
    delete_pod,
    wait_running,
)
from ctdiag.errors import ClusterError, CtdiagError

#: Seconds the end-of-run cleanup may take before it gives up and says what is left.
CLOSE_BUDGET_S = 30.0
#: Of which waiting for pod creates in flight may take (they are bounded calls themselves).
CREATES_WAIT_S = 10.0
#: Of what is left of the budget, the share listing the run's pods may take.
LIST_SHARE = 0.5
#: Leftovers named one by one in the message; the rest are counted.
NAMED_LEFTOVERS = 5
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


class CleanupIncomplete(ClusterError):
    """Some of the run's objects could not be removed; the message is the one line to show.

    Attributes:
        left: what is left (``pod ns/name``, ``namespace ns``).
        why: the first failure, one line.
        run_id: the run whose objects they are (``cleanup --run-id``).
    """

    def __init__(self, left: Sequence[str], why: str, run_id: str) -> None:
        self.left = list(left)
        self.why = why
        self.run_id = run_id
        super().__init__(leftovers_line(self.left, why, run_id))


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

    def _create(self, spec: DebugPodSpec) -> CtdiagError | None:
        try:
            check_ready(self.cluster, spec.node)
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
        creates_done = self._creating.acquire(timeout=min(CREATES_WAIT_S, _left(deadline)))
        if creates_done:
            self._creating.release()
        if not self.namespace:
            return
        pool = ThreadPoolExecutor(CREATE_PARALLEL, thread_name_prefix="ctdiag-delete")
        futures: dict[str, Future[None]] = {}
        namespace = f"namespace {self.namespace}"
        if self._own_namespace:  # first: it takes everything in it, listed or not
            futures[namespace] = pool.submit(_bounded, self._deleter("", deadline), deadline)
        names = self._pod_names(min(deadline, time.monotonic() + LIST_SHARE * _left(deadline)))
        for name in names:
            futures[f"pod {self.namespace}/{name}"] = pool.submit(
                _bounded, self._deleter(name, deadline), deadline
            )
        pool.shutdown(wait=False)
        failed = _outcomes(futures, deadline, self.options.close_budget_s)
        if self._own_namespace and namespace not in failed:
            failed = {}  # its pods go with it, whatever their own deletes said
            self._progress("", f"{namespace} deleted with {len(names)} debug pods")
        elif names:
            gone = len(names) - sum(1 for what in failed if what.startswith("pod "))
            self._progress("", f"{gone} of {len(names)} debug pods deleted")
        if not creates_done and not self._own_namespace:
            failed.setdefault("any pod still being created", f"creates did not end within "
                                                             f"{CREATES_WAIT_S:g} s")  # fmt: skip
        if failed:
            raise CleanupIncomplete(list(failed), next(iter(failed.values())), self.run_id)

    def _deleter(self, pod: str, deadline: float) -> Callable[[], None]:
        """Deletes the pod ``pod``, or with ``""`` the namespace."""
        if not pod:
            return lambda: delete_namespace(self.cluster, self.namespace, until=deadline)
        return lambda: delete_pod(self.cluster, self.namespace, pod, until=deadline)

    def _pod_names(self, deadline: float) -> list[str]:
        """Every pod of this run by label (a create cut off mid-request may have landed)."""
        known = [pod.name for pod in self.pods().values()]
        try:
            listed = self.cluster.call(
                "list this run's debug pods", self.cluster.core.list_namespaced_pod,
                self.namespace, label_selector=f"{RUN_LABEL}={self.run_id}", until=deadline,
            )  # fmt: skip
        except CtdiagError:
            return known
        return sorted({*known, *(p.metadata.name for p in listed.items)})


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _bounded(delete: Callable[[], None], deadline: float) -> None:
    if time.monotonic() >= deadline:  # queued behind slow ones until time was up
        raise TimeoutError
    delete()


def _outcomes(futures: dict[str, Future[None]], deadline: float,
              budget_s: float) -> dict[str, str]:  # fmt: skip
    """what -> why, for each delete that failed or did not finish by ``deadline``."""
    failed: dict[str, str] = {}
    # Pods first, the namespace last: the order the leftovers line names them in.
    for what, future in sorted(futures.items(), key=lambda item: item[0].startswith("namespace")):
        try:
            # Every call ends by the deadline (plus its last attempt's second or so).
            future.result(timeout=_left(deadline) + 5)
        except CtdiagError as exc:
            failed[what] = str(exc)
        except TimeoutError:
            failed[what] = f"out of time ({budget_s:g} s)"
    return failed


def leftovers_line(left: Sequence[str], why: str, run_id: str) -> str:
    """One line naming what is left on the cluster, why, and the command that removes it."""
    shown = ", ".join(left[:NAMED_LEFTOVERS])
    if len(left) > NAMED_LEFTOVERS:
        shown += f" and {len(left) - NAMED_LEFTOVERS} more"
    return f"could not remove {shown} ({why}); run: python -m ctdiag cleanup --run-id {run_id}"
