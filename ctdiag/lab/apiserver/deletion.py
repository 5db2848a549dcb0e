"""Graceful pod deletion and the namespace controller's cascade, kept short for tests.

A pod deleted with grace 0, never bound, or already finished is removed at once; others
get ``deletionTimestamp`` and vanish :data:`GRACEFUL_REMOVAL_S` later. A deleted namespace
is Terminating for :data:`NAMESPACE_TERMINATING_S`, loses its pods, then goes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ctdiag.lab.apiserver.objects import Obj, now
from ctdiag.lab.apiserver.state import ApiState

GRACEFUL_REMOVAL_S = 0.5
NAMESPACE_TERMINATING_S = 0.2
DEFAULT_GRACE_S = 30


def _remove_pod(state: ApiState, namespace: str, name: str, uid: str) -> Obj | None:
    current = state.store.get("pods", namespace, name)
    if current is None or current["metadata"]["uid"] != uid:
        return None
    state.kill_execs((namespace, name))
    return state.store.delete("pods", namespace, name)


def delete_pod(state: ApiState, pod: Obj, grace: int | None) -> Obj:
    """Delete ``pod``; what the API answers (the pod, with deletionTimestamp if graceful)."""
    meta = pod["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    if grace is None:
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_S))
    immediate = (
        grace == 0
        or not pod["spec"].get("nodeName")
        or pod["status"].get("phase") in {"Succeeded", "Failed"}
    )
    if immediate:
        return _remove_pod(state, namespace, name, uid) or pod
    if meta.get("deletionTimestamp"):
        return pod
    stamp = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def mark(obj: Obj) -> None:
        obj["metadata"].update(deletionTimestamp=stamp, deletionGracePeriodSeconds=grace)

    marked = state.store.update("pods", namespace, name, mark) or pod

    async def remove_later() -> None:
        await asyncio.sleep(min(float(grace), GRACEFUL_REMOVAL_S))
        _remove_pod(state, namespace, name, uid)

    state.spawn(remove_later())
    return marked


def delete_namespace(state: ApiState, namespace: Obj) -> Obj:
    """Start deleting ``namespace``: Terminating now, gone with its pods shortly after."""
    name = namespace["metadata"]["name"]
    uid = namespace["metadata"]["uid"]

    def terminate(obj: Obj) -> None:
        obj["metadata"]["deletionTimestamp"] = now()
        obj["status"]["phase"] = "Terminating"

    terminating = state.store.update("namespaces", "", name, terminate) or namespace

    async def cascade() -> None:
        await asyncio.sleep(NAMESPACE_TERMINATING_S)
        pods, _ = state.store.objects("pods", name)
        for pod in pods:
            _remove_pod(state, name, pod["metadata"]["name"], pod["metadata"]["uid"])
        current = state.store.get("namespaces", "", name)
        if current is not None and current["metadata"]["uid"] == uid:
            state.store.delete("namespaces", "", name)

    state.spawn(cascade())
    return terminating
