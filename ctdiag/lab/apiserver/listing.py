"""Get, list and watch of any stored resource, with selectors, as the API server answers.

Watches stream newline-delimited JSON events; without a resourceVersion (or with ``0``)
they start with an ADDED event per matching object. An object that starts or stops
matching the selectors shows up as ADDED or DELETED, as in Kubernetes. Lists honour
``limit`` and ``continue`` (the token is an offset into the matching objects of the
current store, not a consistent snapshot as a real server keeps).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ctdiag.lab.apiserver.access import authorize
from ctdiag.lab.apiserver.objects import Obj
from ctdiag.lab.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from ctdiag.lab.apiserver.state import STATE, ApiState
from ctdiag.lab.apiserver.status import bad_request, not_found, status_body
from ctdiag.lab.apiserver.store import CLUSTER_SCOPED, Event, ExpiredError

_COMMON = frozenset({"metadata.name", "metadata.namespace"})
FIELDS: dict[str, frozenset[str]] = {
    "pods": _COMMON | {
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    },
    "namespaces": _COMMON | {"status.phase"},
    "nodes": _COMMON | {"spec.unschedulable"},
    "services": _COMMON | {"spec.clusterIP", "spec.type"},
    "endpointslices": _COMMON | {"addressType"},
}
LIST_KINDS = {
    "pods": ("PodList", "v1"),
    "namespaces": ("NamespaceList", "v1"),
    "nodes": ("NodeList", "v1"),
    "services": ("ServiceList", "v1"),
    "endpointslices": ("EndpointSliceList", "discovery.k8s.io/v1"),
}
#: A watch without timeoutSeconds ends after this (the API server picks 30 to 60 minutes).
DEFAULT_WATCH_S = 1800.0
#: How often an idle watch checks whether its client or the server went away.
_IDLE_CHECK_S = 0.1


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The query parameters of a list or watch."""

    labels: LabelSelector
    fields: FieldSelector
    watch: bool
    resource_version: int | None
    timeout_s: float
    limit: int = 0
    start: int = 0

    def matches(self, obj: Obj) -> bool:
        return self.labels.matches(obj["metadata"].get("labels")) and self.fields.matches(obj)


def parse_query(request: web.Request, resource: str) -> ListQuery:
    """Read selectors, watch, resourceVersion and timeoutSeconds (400 when malformed)."""
    query = request.query
    try:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), FIELDS[resource])
    except SelectorError as error:
        raise bad_request(str(error)) from None
    version_text = query.get("resourceVersion", "")
    timeout_text = query.get("timeoutSeconds", "")
    try:
        version = int(version_text) if version_text not in {"", "0"} else None
        timeout = float(timeout_text) if timeout_text else DEFAULT_WATCH_S
    except ValueError:
        raise bad_request(f"invalid query: {request.query_string}") from None
    watch = query.get("watch", "").lower() in {"true", "1"}
    try:
        limit = int(query.get("limit") or 0)
        start = _continue_offset(query.get("continue") or "")
    except ValueError:
        raise bad_request(f"invalid query: {request.query_string}") from None
    return ListQuery(labels, fields, watch, version, timeout, max(limit, 0), start)


def _continue_token(start: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"start": start}).encode()).decode()


def _continue_offset(token: str) -> int:
    """The offset a ``continue`` token of :func:`_continue_token` stands for (0: none)."""
    if not token:
        return 0
    try:
        start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ValueError(token) from None
    if not isinstance(start, int) or start < 0:
        raise ValueError(token)
    return start


def _in_scope(obj: Obj, namespace: str | None) -> bool:
    return namespace is None or obj["metadata"].get("namespace") == namespace


def _list_item(obj: Obj) -> Obj:
    # List items come without kind and apiVersion from a real API server.
    return {k: v for k, v in obj.items() if k not in {"kind", "apiVersion"}}


async def get_one(request: web.Request, resource: str, namespace: str, name: str) -> web.Response:
    """``GET`` of one object (404 when missing)."""
    authorize(request, "get", resource, namespace or None, name)
    obj = request.app[STATE].store.get(resource, namespace, name)
    if obj is None:
        raise not_found(resource, name)
    return web.json_response(obj)


async def list_or_watch(
    request: web.Request, resource: str, namespace: str | None
) -> web.StreamResponse:
    """``GET`` of a collection: a List, or a watch stream with ``watch=true``."""
    query = parse_query(request, resource)
    authorize(request, "watch" if query.watch else "list", resource, namespace)
    state = request.app[STATE]
    if query.watch:
        return await _watch(request, state, resource, namespace, query)
    items, version = state.store.objects(resource, namespace)
    kind, api_version = LIST_KINDS[resource]
    matching = [o for o in items if query.matches(o)]
    end = query.start + query.limit if query.limit else len(matching)
    metadata: dict[str, Any] = {"resourceVersion": str(version)}
    if end < len(matching):
        metadata["continue"] = _continue_token(end)
        metadata["remainingItemCount"] = len(matching) - end
    return web.json_response(
        {
            "kind": kind,
            "apiVersion": api_version,
            "metadata": metadata,
            "items": [_list_item(o) for o in matching[query.start:end]],
        }
    )


def _translate(
    event: Event, resource: str, namespace: str | None, query: ListQuery
) -> dict[str, Any] | None:
    """The event a watcher with these selectors sees, if any."""
    if event.resource != resource or not _in_scope(event.obj, namespace):
        return None
    now_matches = query.matches(event.obj)
    was_matching = event.old is not None and query.matches(event.old)
    if event.type == "DELETED":
        kind = "DELETED" if was_matching or now_matches else None
    elif now_matches:
        kind = "MODIFIED" if was_matching else "ADDED"
    else:
        kind = "DELETED" if was_matching else None
    return None if kind is None else {"type": kind, "object": event.obj}


async def _watch(
    request: web.Request,
    state: ApiState,
    resource: str,
    namespace: str | None,
    query: ListQuery,
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        backlog, queue = state.store.subscribe(query.resource_version)
    except ExpiredError as error:
        await response.prepare(request)
        expired = status_body(410, str(error), reason="Expired")
        await response.write(json.dumps({"type": "ERROR", "object": expired}).encode() + b"\n")
        await response.write_eof()
        return response
    try:
        if query.resource_version is None:
            items, _ = state.store.objects(resource, namespace)
            initial = [{"type": "ADDED", "object": o} for o in items if query.matches(o)]
        else:
            initial = [e for ev in backlog if (e := _translate(ev, resource, namespace, query))]
        await response.prepare(request)
        for event in initial:
            await response.write(json.dumps(event).encode() + b"\n")
        deadline = time.monotonic() + query.timeout_s
        while (left := deadline - time.monotonic()) > 0 and not state.stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                change = await asyncio.wait_for(queue.get(), min(left, _IDLE_CHECK_S))
            except TimeoutError:
                continue
            if translated := _translate(change, resource, namespace, query):
                await response.write(json.dumps(translated).encode() + b"\n")
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client went away; nothing to tell it
    finally:
        state.store.unsubscribe(queue)
    return response


def cluster_scoped(resource: str) -> bool:
    """Whether ``resource`` lives outside namespaces."""
    return resource in CLUSTER_SCOPED


def add_namespaced_reads(table: web.RouteTableDef, prefix: str, resource: str) -> None:
    """The read routes every namespaced resource has: list (or watch) across namespaces,
    list (or watch) in one, get one; ``prefix`` is ``/api/v1`` or ``/apis/GROUP/VERSION``."""

    async def list_all(request: web.Request) -> web.StreamResponse:
        return await list_or_watch(request, resource, None)

    async def list_in(request: web.Request) -> web.StreamResponse:
        return await list_or_watch(request, resource, request.match_info["namespace"])

    async def get(request: web.Request) -> web.Response:
        info = request.match_info
        return await get_one(request, resource, info["namespace"], info["name"])

    table.get(f"{prefix}/{resource}")(list_all)
    table.get(f"{prefix}/namespaces/{{namespace}}/{resource}")(list_in)
    table.get(f"{prefix}/namespaces/{{namespace}}/{resource}/{{name}}")(get)
