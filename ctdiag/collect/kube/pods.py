"""Create debug pods, wait until they run (one watch for all), delete them, sweep leftovers.

Waiting fails fast on what will never heal (image pull errors, a failed pod) instead of
waiting out the timeout (the kubelet retries a bad image for ever). Deletes use grace period 0: a
debug pod holds no state worth a graceful stop, and a killed run must not leave it running.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from ctdiag.collect.kube.access import Cluster, api_error, one_line
from ctdiag.collect.kube.manifests import (
    CONTAINER,
    RUN_LABEL,
    DebugPodSpec,
    debug_pod_manifest,
    managed_selector,
    namespace_manifest,
)
from ctdiag.collect.kube.pod_runner import DebugPod
from ctdiag.collect.kube.policy import DEFAULT_START_TIMEOUT_S, RETRIED_STATUSES, RETRY_DELAYS_S
from ctdiag.errors import ApiError, DebugPodError, NotFoundError

#: Waiting reasons that never heal by waiting.
FATAL_WAITING = frozenset({
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})  # fmt: skip

#: Told (node, message) as pods change state.
PodProgress = Callable[[str, str], None]


def _create_named(cluster: Cluster, what: str, method: Any, *args: Any, node: str = "") -> None:
    """Create an object whose name ctdiag fixed. Retried on 5xx like every call: a
    retry that finds the object there already (409) means the first attempt went through."""
    try:
        cluster.call(what, method, *args, node=node)
    except ApiError as exc:
        if exc.status != 409:
            raise


def create_namespace(cluster: Cluster, run_id: str, worker: str = "") -> str:
    """A new namespace for this run's pods (privileged Pod Security, OpenShift labels)."""
    body = namespace_manifest(run_id, worker)
    name = str(body["metadata"]["name"])
    _create_named(cluster, f"create namespace {name}", cluster.core.create_namespace, body)
    return name


def delete_namespace(cluster: Cluster, name: str, *, until: float | None = None) -> None:
    """Delete the namespace (and so everything in it); a namespace already gone, or already
    being deleted (409), is fine.

    Args:
        until: a ``time.monotonic()`` deadline for the call (retries included).
    """
    try:
        cluster.call(f"delete namespace {name}", cluster.core.delete_namespace, name,
                     grace_period_seconds=0, until=until)  # fmt: skip
    except NotFoundError:
        pass
    except ApiError as exc:
        if exc.status != 409:  # Conflict: Terminating already (a retried delete went through)
            raise


def create_pod(cluster: Cluster, spec: DebugPodSpec) -> None:
    """Create the node's debug pod (its name is fixed: see :func:`_create_named`)."""
    _create_named(cluster, f"create debug pod {spec.namespace}/{spec.name}",
                  cluster.core.create_namespaced_pod, spec.namespace, debug_pod_manifest(spec),
                  node=spec.node)  # fmt: skip


def delete_pod(cluster: Cluster, namespace: str, name: str, *, node: str = "",
               until: float | None = None) -> None:  # fmt: skip
    """Delete at once (grace period 0); a pod already gone is fine.

    Args:
        until: a ``time.monotonic()`` deadline for the call (retries included).
    """
    with contextlib.suppress(NotFoundError):
        cluster.call(f"delete pod {namespace}/{name}", cluster.core.delete_namespaced_pod,
                     name, namespace, grace_period_seconds=0, node=node,
                     until=until)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PodVerdict:
    """Where a pod stands: running, failed for good (``error``), or still undecided."""

    running: bool = False
    error: str = ""


def pod_verdict(pod: Any) -> PodVerdict:
    """Judge one ``V1Pod``: running, failed (with a one-line why), or still coming."""
    status = pod.status
    phase = status.phase if status else None
    if phase in ("Failed", "Succeeded"):
        why = one_line(f"{status.reason or ''} {status.message or ''}") or "no reason given"
        return PodVerdict(error=f"pod {phase.lower()} before use: {why}")
    for container in (status.container_statuses if status else None) or []:
        state = container.state
        waiting = state.waiting if state else None
        if waiting is not None and waiting.reason in FATAL_WAITING:
            image = container.image or "?"
            why = one_line(f"{waiting.reason}: {waiting.message or ''}")
            return PodVerdict(error=f"image {one_line(image, 200)}: {why}")
        terminated = state.terminated if state else None
        if terminated is not None:
            why = one_line(f"{terminated.reason or ''} exit {terminated.exit_code}")
            return PodVerdict(error=f"container {container.name} terminated: {why}")
        if phase == "Running" and state is not None and state.running is not None:
            return PodVerdict(running=True)
    return PodVerdict()


def _pending_why(pod: Any | None) -> str:
    if pod is None:
        return "never seen by the watch"
    status = pod.status
    parts = [f"phase {status.phase if status else 'unknown'}"]
    for container in (status.container_statuses if status else None) or []:
        waiting = container.state.waiting if container.state else None
        if waiting is not None:
            parts.append(f"{waiting.reason}: {waiting.message or ''}".strip(": "))
    for condition in (status.conditions if status else None) or []:
        if condition.status != "True" and condition.reason:
            parts.append(f"{condition.type}={condition.status} ({condition.reason})")
    return one_line(", ".join(parts), 500)


def wait_running(
    cluster: Cluster, namespace: str, run_id: str, pods: Mapping[str, DebugPodSpec], *,
    timeout: float = DEFAULT_START_TIMEOUT_S, progress: PodProgress | None = None,
) -> dict[str, DebugPod | DebugPodError]:  # fmt: skip
    """Watch this run's pods (one watch, all nodes) until each runs or fails, or time is up.

    Args:
        pods: pod name -> its spec.

    Returns:
        node -> its running pod, or the error saying why it will not run.
    """
    results: dict[str, DebugPod | DebugPodError] = {}
    last: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    version = ""
    failures = 0  # watches in a row that failed (5xx, 429, no answer): the retry policy's
    while len(results) < len(pods):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        stream = watch.Watch().stream(
            cluster.core.list_namespaced_pod, namespace, label_selector=f"{RUN_LABEL}={run_id}",
            timeout_seconds=max(1, int(remaining)), resource_version=version or None,
            # The server ends the watch at timeout_seconds; reading waits that long at most.
            _request_timeout=(cluster.connect_timeout_s, remaining + cluster.request_timeout_s),
        )  # fmt: skip
        try:
            for event in stream:
                failures = 0
                pod = event["object"]
                version = pod.metadata.resource_version or version
                spec = pods.get(pod.metadata.name)
                if spec is None or spec.node in results:
                    continue
                last[spec.name] = pod
                verdict = pod_verdict(pod)
                if event["type"] == "DELETED":
                    verdict = PodVerdict(error="pod deleted while starting (by someone else?)")
                if verdict.running:
                    results[spec.node] = DebugPod(spec.node, namespace, spec.name, CONTAINER,
                                                  spec.image)  # fmt: skip
                    _tell(progress, spec.node, f"debug pod {namespace}/{spec.name} running")
                elif verdict.error:
                    results[spec.node] = DebugPodError(verdict.error, node=spec.node)
                if len(results) == len(pods) or time.monotonic() >= deadline:
                    break
            continue
        except ApiException as exc:
            if exc.status == 410:  # resource version too old: list afresh
                version = ""
                continue
            error = api_error(f"watch pods in {namespace}", exc)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = ApiError(f"watch pods in {namespace}: no answer from the API server "
                             f"{cluster.where}: {one_line(str(exc))}", status=0)  # fmt: skip
        finally:
            stream.close()
        if error.status not in RETRIED_STATUSES or failures == len(RETRY_DELAYS_S):
            raise error
        pause = RETRY_DELAYS_S[failures]
        failures += 1
        if time.monotonic() + pause >= deadline:
            break
        _tell(progress, "", f"pod watch failed ({error}); watching again in {pause:g} s")
        time.sleep(pause)
    for name, spec in pods.items():
        if spec.node not in results:
            why = _pending_why(last.get(name))
            message = f"debug pod {namespace}/{name} not running after {timeout:g} s: {why}"
            results[spec.node] = DebugPodError(message, node=spec.node)
    return results


def _tell(progress: PodProgress | None, node: str, message: str) -> None:
    if progress is not None:
        progress(node, message)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What :func:`sweep` removed, and what it could not.

    Attributes:
        pods: pods deleted (``namespace/name``).
        namespaces: namespaces deleted.
        left: ``pod ns/name`` or ``namespace name`` -> why it is still there (one line).
    """

    pods: list[str]
    namespaces: list[str]
    left: dict[str, str]


def sweep(cluster: Cluster, *, run_id: str | None = None) -> SweepResult:
    """Delete every pod and namespace ctdiag made (of one run, or of any): ``cleanup``.

    A delete that fails does not stop the others; it is reported in ``left``.

    Raises:
        ApiError: listing failed.
    """
    selector = managed_selector(run_id)
    listed = cluster.call("list ctdiag pods", cluster.core.list_pod_for_all_namespaces,
                          label_selector=selector)  # fmt: skip
    pods: list[str] = []
    left: dict[str, str] = {}
    for pod in listed.items:
        where = f"{pod.metadata.namespace}/{pod.metadata.name}"
        try:
            delete_pod(cluster, pod.metadata.namespace, pod.metadata.name)
        except ApiError as exc:
            left[f"pod {where}"] = str(exc)
        else:
            pods.append(where)
    spaces = cluster.call("list ctdiag namespaces", cluster.core.list_namespace,
                          label_selector=selector)  # fmt: skip
    names: list[str] = []
    for namespace in spaces.items:
        name = namespace.metadata.name
        try:
            delete_namespace(cluster, name)
        except ApiError as exc:
            left[f"namespace {name}"] = str(exc)
        else:
            names.append(name)
    return SweepResult(pods, names, left)
