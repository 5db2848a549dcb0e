"""Removing one run's objects at its end: every delete at once, all within one deadline, and
one line for whatever is left.

The namespace (when the run made it) is deleted first and takes everything in it, listed or
not; the run's pods are listed by label (a create cut off mid-request may have landed) and
deleted with grace period 0 beside it, so they stop at once. Every call is bounded by the
deadline (:meth:`~ctdiag.collect.kube.access.Cluster.call` ``until``); what has not answered
by then is "out of time". What is left is :class:`CleanupIncomplete`: one line naming it,
why, and ``python -m ctdiag cleanup --run-id RUN``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.manifests import RUN_LABEL
from ctdiag.collect.kube.pods import delete_namespace, delete_pod
from ctdiag.errors import ClusterError, CtdiagError

#: Seconds the end-of-run cleanup may take before it gives up and says what is left.
CLOSE_BUDGET_S = 30.0
#: Of what is left of the deadline, the share listing the run's pods may take.
LIST_SHARE = 0.5
#: Deletes in flight at once.
DELETE_PARALLEL = 16
#: Leftovers named one by one in the message; the rest are counted.
NAMED_LEFTOVERS = 5
#: Seconds past the deadline a delete's last attempt may still take to answer.
LAST_ATTEMPT_S = 5.0


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


def leftovers_line(left: Sequence[str], why: str, run_id: str) -> str:
    """One line naming what is left on the cluster, why, and the command that removes it."""
    shown = ", ".join(left[:NAMED_LEFTOVERS])
    if len(left) > NAMED_LEFTOVERS:
        shown += f" and {len(left) - NAMED_LEFTOVERS} more"
    return f"could not remove {shown} ({why}); run: python -m ctdiag cleanup --run-id {run_id}"


def remove_run(
    cluster: Cluster, namespace: str, run_id: str, *, own_namespace: bool,
    known: Sequence[str], deadline: float, budget_s: float = CLOSE_BUDGET_S,
    also_left: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """Delete the run's pods in ``namespace`` and, when ``own_namespace``, the namespace.

    Args:
        known: pod names the run knows of (listed ones are added).
        deadline: ``time.monotonic()`` by which every delete has answered or is given up.
        budget_s: the time that deadline gives, for the message.
        also_left: what else is left (what -> why), for the same one line.

    Returns:
        How many pods there were.

    Raises:
        CleanupIncomplete: something is left (the namespace's pods go with it when it is
            deleted, whatever their own deletes said).
    """
    pool = ThreadPoolExecutor(DELETE_PARALLEL, thread_name_prefix="ctdiag-delete")
    futures: dict[str, Future[None]] = {}
    whole = f"namespace {namespace}"
    if own_namespace:  # first: it takes everything in it, listed or not
        futures[whole] = pool.submit(
            _bounded, lambda: delete_namespace(cluster, namespace, until=deadline), deadline
        )
    share = min(deadline, time.monotonic() + LIST_SHARE * _left(deadline))
    names = _pod_names(cluster, namespace, run_id, known, share)
    for name in names:
        futures[f"pod {namespace}/{name}"] = pool.submit(
            _bounded, _pod_deleter(cluster, namespace, name, deadline), deadline
        )
    pool.shutdown(wait=False)
    failed = _outcomes(futures, deadline, budget_s)
    if own_namespace and whole not in failed:
        failed = {}
    failed.update(also_left or {})
    if failed:
        raise CleanupIncomplete(list(failed), next(iter(failed.values())), run_id)
    return len(names)


def _pod_deleter(cluster: Cluster, namespace: str, name: str,
                 deadline: float) -> Callable[[], None]:  # fmt: skip
    return lambda: delete_pod(cluster, namespace, name, until=deadline)


def _pod_names(cluster: Cluster, namespace: str, run_id: str, known: Sequence[str],
               deadline: float) -> list[str]:  # fmt: skip
    """Every pod of the run by label, and those known (if the list fails: those known)."""
    try:
        listed = cluster.call(
            "list this run's debug pods", cluster.core.list_namespaced_pod, namespace,
            label_selector=f"{RUN_LABEL}={run_id}", until=deadline,
        )  # fmt: skip
    except CtdiagError:
        return sorted(known)
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
            future.result(timeout=_left(deadline) + LAST_ATTEMPT_S)
        except CtdiagError as exc:
            failed[what] = str(exc)
        except TimeoutError:
            failed[what] = f"out of time ({budget_s:g} s)"
    return failed
