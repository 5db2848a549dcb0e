"""One run's debug pods: at most one per node, shared by all its checks, all removed at the end.

:class:`DebugPodSession` is a context manager. ``start(nodes)`` checks each node is Ready,
creates the namespace (unless ``--namespace`` names one), creates the pods and waits for all
of them with one watch; ``runner(node)`` gives the node's
:class:`~ctdiag.collect.kube.pod_runner.DebugPodRunner`, or raises the one-line reason the node
cannot
be reached. Leaving the context deletes every pod of the run (by label, so a pod whose
create was interrupted mid-request goes too) and the temporary namespace, within
:data:`CLOSE_BUDGET_S`; ``activeDeadlineSeconds`` stops the pods even if we are killed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.manifests import (
    DEFAULT_DEADLINE_S,
    DEFAULT_IMAGE,
    RUN_LABEL,
    DebugPodSpec,
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
    """

    namespace: str | None = None
    image: str = DEFAULT_IMAGE
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    deadline_s: int = DEFAULT_DEADLINE_S


def _quiet(node: str, message: str) -> None:
    del node, message


class DebugPodSession:
    """Debug pods of one run on one cluster (see the module docstring).

    ``worker`` names the xdist worker: each has its namespace, all share the run id.
    """

    def __init__(self, cluster: Cluster, options: PodOptions = PodOptions(), *,
                 run_id: str | None = None, worker: str = "",
                 progress: PodProgress = _quiet) -> None:  # fmt: skip
        self.cluster = cluster
        self.options = options
        self.run_id = run_id or new_run_id()
        self.worker = worker
        self.namespace = options.namespace or ""
        self._own_namespace = False
        self._progress = progress
        self._pods: dict[str, DebugPod | CtdiagError] = {}
        self._runners: dict[str, DebugPodRunner] = {}
        self._creating = threading.Lock()
        self._closing = threading.Event()

    def __enter__(self) -> DebugPodSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

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
            if not self.namespace:
                self.namespace = create_namespace(self.cluster, self.run_id, self.worker)
                self._own_namespace = True
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
        """Delete this run's pods and the temporary namespace (bounded; says what is left).

        Raises:
            ClusterError: something could not be deleted (the message names it and the
                command that removes it).
        """
        deadline = time.monotonic() + CLOSE_BUDGET_S
        self._closing.set()
        if self._creating.acquire(timeout=CLOSE_BUDGET_S):  # creates in flight end first
            self._creating.release()
        if not self.namespace:
            return
        left: list[str] = []
        names = self._pod_names()
        for name in names:
            if time.monotonic() > deadline:
                left.append(name)
                continue
            try:
                delete_pod(self.cluster, self.namespace, name)
            except CtdiagError:
                left.append(name)
        if self._own_namespace:
            try:
                delete_namespace(self.cluster, self.namespace)
                self._progress("", f"namespace {self.namespace} deleted with "
                                   f"{len(names) - len(left)} debug pods")  # fmt: skip
            except CtdiagError:
                left.append(f"namespace {self.namespace}")
        elif names:
            self._progress("", f"{len(names) - len(left)} debug pods deleted")
        if left:
            raise ClusterError(
                f"could not remove {', '.join(left)}; "
                f"run: python -m ctdiag cleanup --run-id {self.run_id}"
            )

    def _pod_names(self) -> list[str]:
        """Every pod of this run by label (a create cut off mid-request may have landed)."""
        known = [pod.name for pod in self.pods().values()]
        try:
            listed = self.cluster.call(
                "list this run's debug pods", self.cluster.core.list_namespaced_pod,
                self.namespace, label_selector=f"{RUN_LABEL}={self.run_id}",
            )  # fmt: skip
        except CtdiagError:
            return known
        return sorted({*known, *(p.metadata.name for p in listed.items)})
