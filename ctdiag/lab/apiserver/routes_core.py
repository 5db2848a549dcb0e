"""Namespaces, nodes, Services and EndpointSlices."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from ctdiag.lab.apiserver.access import authorize
from ctdiag.lab.apiserver.deletion import delete_namespace
from ctdiag.lab.apiserver.listing import add_namespaced_reads, get_one, list_or_watch
from ctdiag.lab.apiserver.objects import generated_name, namespace_object
from ctdiag.lab.apiserver.state import STATE, DeleteRecord
from ctdiag.lab.apiserver.status import already_exists, bad_request, not_found, status_error

routes = web.RouteTableDef()

_DNS_LABEL = 63
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; ``{}`` when empty (400 when not JSON)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise bad_request(f"the body of the request was in an unknown format: {error}") from None
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    return body


def grace_period(request: web.Request, body: dict[str, Any]) -> int | None:
    """gracePeriodSeconds from DeleteOptions in the body, else from the query."""
    value = body.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid gracePeriodSeconds: {value!r}") from None


def resolve_name(resource: str, metadata: dict[str, Any]) -> str:
    """metadata.name, or one generated from metadata.generateName (422 without either)."""
    name = metadata.get("name") or ""
    if not name and metadata.get("generateName"):
        name = generated_name(str(metadata["generateName"]))
    if not name:
        raise status_error(
            422,
            f"{resource} \"\" is invalid: metadata.name: Required value: name or "
            "generateName is required",
        )
    if len(name) > 253:
        raise status_error(422, f'{resource} "{name}" is invalid: metadata.name: Too long')
    return str(name)


# --- namespaces ---------------------------------------------------------------------------


@routes.get("/api/v1/namespaces")
async def list_namespaces(request: web.Request) -> web.StreamResponse:
    return await list_or_watch(request, "namespaces", None)


@routes.post("/api/v1/namespaces")
async def create_namespace(request: web.Request) -> web.Response:
    authorize(request, "create", "namespaces")
    body = await read_json(request)
    metadata = body.get("metadata") or {}
    name = resolve_name("namespaces", metadata)
    if len(name) > _DNS_LABEL or not _LABEL.fullmatch(name):
        raise status_error(
            422,
            f'Namespace "{name}" is invalid: metadata.name: Invalid value: "{name}": a '
            "lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
            "'-', and must start and end with an alphanumeric character",
            details={"name": name, "kind": "Namespace"},
        )
    store = request.app[STATE].store
    if store.get("namespaces", "", name) is not None:
        raise already_exists("namespaces", name)
    created = store.create(
        "namespaces",
        namespace_object(name, metadata.get("labels") or {}, metadata.get("annotations") or {}),
    )
    return web.json_response(created, status=201)


@routes.get("/api/v1/namespaces/{name}")
async def get_namespace(request: web.Request) -> web.Response:
    return await get_one(request, "namespaces", "", request.match_info["name"])


@routes.delete("/api/v1/namespaces/{name}")
async def delete_namespace_route(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    authorize(request, "delete", "namespaces", None, name)
    state = request.app[STATE]
    body = await read_json(request)
    state.log_delete(DeleteRecord(request.path_qs, grace_period(request, body)))
    namespace = state.store.get("namespaces", "", name)
    if namespace is None:
        raise not_found("namespaces", name)
    if name in {"default", "kube-system", "kube-public"}:
        raise status_error(
            403, f'namespaces "{name}" is forbidden: this namespace may not be deleted'
        )
    if namespace["status"].get("phase") == "Terminating":
        raise status_error(
            409,
            f'Operation cannot be fulfilled on namespaces "{name}": The system is ensuring all '
            "content is removed from this namespace.  Upon completion, this namespace will "
            "automatically be purged by the system.",
            reason="Conflict",
            details={"name": name, "kind": "namespaces"},
        )
    return web.json_response(delete_namespace(state, namespace))


# --- nodes --------------------------------------------------------------------------------


@routes.get("/api/v1/nodes")
async def list_nodes(request: web.Request) -> web.StreamResponse:
    return await list_or_watch(request, "nodes", None)


@routes.get("/api/v1/nodes/{name}")
async def get_node(request: web.Request) -> web.Response:
    return await get_one(request, "nodes", "", request.match_info["name"])


# --- services and endpointslices ----------------------------------------------------------


add_namespaced_reads(routes, "/api/v1", "services")
add_namespaced_reads(routes, "/apis/discovery.k8s.io/v1", "endpointslices")
