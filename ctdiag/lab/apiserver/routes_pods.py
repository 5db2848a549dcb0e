"""Pods: create (with admission and defaults), get, list, watch, delete, deletecollection."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from ctdiag.lab.apiserver.access import authorize
from ctdiag.lab.apiserver.deletion import delete_pod
from ctdiag.lab.apiserver.kubelet import schedule, start_pod
from ctdiag.lab.apiserver.listing import LIST_KINDS, add_namespaced_reads, parse_query
from ctdiag.lab.apiserver.objects import Obj
from ctdiag.lab.apiserver.routes_core import grace_period, read_json, resolve_name
from ctdiag.lab.apiserver.state import STATE, DeleteRecord
from ctdiag.lab.apiserver.status import already_exists, not_found, status_error

routes = web.RouteTableDef()

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def scc_message(name: str, pod: Obj) -> str:
    """OpenShift's SecurityContextConstraints refusal for a privileged host pod."""
    problems = []
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        problems.append("spec.securityContext.hostNetwork: Invalid value: true: Host network "
                        "is not allowed to be used")
    if spec.get("hostPID"):
        problems.append("spec.securityContext.hostPID: Invalid value: true: Host PID is not "
                        "allowed to be used")
    for index, container in enumerate(spec.get("containers") or []):
        if (container.get("securityContext") or {}).get("privileged"):
            problems.append(f"spec.containers[{index}].securityContext.privileged: Invalid "
                            "value: true: Privileged containers are not allowed")
    if not problems:
        problems.append("spec.containers[0].securityContext.privileged: Invalid value: true: "
                        "Privileged containers are not allowed")
    providers = [
        'provider "anyuid": Forbidden: not usable by user or serviceaccount',
        *[f"provider restricted-v2: .{p}" if p.startswith("spec.securityContext") else p
          for p in problems],
        'provider "restricted-v2": Forbidden: not usable by user or serviceaccount',
        'provider "hostnetwork-v2": Forbidden: not usable by user or serviceaccount',
        'provider "privileged": Forbidden: not usable by user or serviceaccount',
    ]
    return (
        f'pods "{name}" is forbidden: unable to validate against any security context '
        f"constraint: [{', '.join(providers)}]"
    )


def _invalid(name: str, field: str, problem: str) -> web.HTTPException:
    return status_error(
        422,
        f'Pod "{name}" is invalid: {field}: {problem}',
        details={"name": name, "kind": "Pod", "causes": [
            {"reason": "FieldValueRequired", "message": problem, "field": field}
        ]},
    )


def _validate(name: str, spec: Obj) -> None:
    containers = spec.get("containers")
    if not containers:
        raise _invalid(name, "spec.containers", "Required value")
    for index, container in enumerate(containers):
        if not container.get("name"):
            raise _invalid(name, f"spec.containers[{index}].name", "Required value")
        if not container.get("image"):
            raise _invalid(name, f"spec.containers[{index}].image", "Required value")


def _with_defaults(pod: Obj, namespace: str, name: str) -> Obj:
    """The pod as the API server stores it: defaults filled, status reset to Pending."""
    stored = copy.deepcopy(pod)
    stored["apiVersion"], stored["kind"] = "v1", "Pod"
    meta = stored.setdefault("metadata", {})
    for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
        meta.pop(key, None)
    meta.update(name=name, namespace=namespace)
    spec = stored["spec"]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    for container in spec["containers"]:
        image = str(container["image"])
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
    stored["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    return stored


add_namespaced_reads(routes, "/api/v1", "pods")


@routes.post("/api/v1/namespaces/{namespace}/pods")
async def create_pod(request: web.Request) -> web.Response:
    namespace = request.match_info["namespace"]
    authorize(request, "create", "pods", namespace)
    state = request.app[STATE]
    body: dict[str, Any] = await read_json(request)
    metadata = body.get("metadata") or {}
    shown = metadata.get("name") or metadata.get("generateName") or ""
    if metadata.get("namespace") not in {None, "", namespace}:
        raise status_error(
            400, "the namespace of the provided object does not match the namespace sent on "
            "the request"
        )
    ns = state.store.get("namespaces", "", namespace)
    if ns is None:
        raise not_found("namespaces", namespace)
    if ns["status"].get("phase") == "Terminating":
        raise status_error(
            403,
            f'pods "{shown}" is forbidden: unable to create new content in namespace '
            f"{namespace} because it is being terminated",
            details={"name": shown, "kind": "pods"},
        )
    if state.faults.scc_denied:
        raise status_error(403, scc_message(shown, body), details={"name": shown, "kind": "pods"})
    _validate(shown, body.get("spec") or {})
    name = resolve_name("pods", metadata)
    if not _SUBDOMAIN.fullmatch(name):
        raise status_error(
            422,
            f'Pod "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase '
            "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
            "'.', and must start and end with an alphanumeric character",
        )
    if state.store.get("pods", namespace, name) is not None:
        raise already_exists("pods", name)
    pod = _with_defaults(body, namespace, name)
    schedule(state, pod)
    created = state.store.create("pods", pod)
    start_pod(state, created)
    return web.json_response(created, status=201)


@routes.delete("/api/v1/namespaces/{namespace}/pods/{name}")
async def delete_pod_route(request: web.Request) -> web.Response:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    authorize(request, "delete", "pods", namespace, name)
    state = request.app[STATE]
    grace = grace_period(request, await read_json(request))
    state.log_delete(DeleteRecord(request.path_qs, grace))
    pod = state.store.get("pods", namespace, name)
    if pod is None:
        raise not_found("pods", name)
    return web.json_response(delete_pod(state, pod, grace))


@routes.delete("/api/v1/namespaces/{namespace}/pods")
async def delete_pods(request: web.Request) -> web.Response:
    namespace = request.match_info["namespace"]
    authorize(request, "deletecollection", "pods", namespace)
    state = request.app[STATE]
    query = parse_query(request, "pods")
    grace = grace_period(request, await read_json(request))
    state.log_delete(DeleteRecord(request.path_qs, grace))
    items, _ = state.store.objects("pods", namespace)
    deleted = [delete_pod(state, pod, grace) for pod in items if query.matches(pod)]
    kind, api_version = LIST_KINDS["pods"]
    return web.json_response(
        {
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(state.store.version)},
            "items": deleted,
        }
    )
