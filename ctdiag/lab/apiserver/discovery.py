"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis`` and the
discovery.k8s.io group, enough for clients that look before they call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ctdiag.lab.apiserver.objects import Obj, version_info

_READ = ["get", "list", "watch"]
_CORE_RESOURCES: list[Obj] = [
    {"name": "namespaces", "singularName": "namespace", "namespaced": False,
     "kind": "Namespace", "verbs": ["create", "delete", "get", "list", "watch"],
     "shortNames": ["ns"]},
    {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
     "verbs": _READ, "shortNames": ["no"]},
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["create", "delete", "deletecollection", "get", "list", "watch"],
     "shortNames": ["po"], "categories": ["all"]},
    {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
     "verbs": ["create", "get"]},
    {"name": "services", "singularName": "service", "namespaced": True, "kind": "Service",
     "verbs": _READ, "shortNames": ["svc"], "categories": ["all"]},
]
_DISCOVERY_RESOURCES: list[Obj] = [
    {"name": "endpointslices", "singularName": "endpointslice", "namespaced": True,
     "kind": "EndpointSlice", "verbs": _READ},
]
_DISCOVERY_GROUP: Obj = {
    "name": "discovery.k8s.io",
    "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
    "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"},
}

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _get(path: str) -> Callable[[Handler], Handler]:
    """Route GET ``path`` and ``path/`` (the official client asks with the slash)."""

    def register(handler: Handler) -> Handler:
        routes.get(path + "/")(handler)
        routes.get(path)(handler)
        return handler

    return register


@_get("/version")
async def get_version(_: web.Request) -> web.Response:
    return web.json_response(version_info())


@routes.get("/healthz")
@routes.get("/livez")
@routes.get("/readyz")
async def get_health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


@_get("/api")
async def get_api(request: web.Request) -> web.Response:
    host = request.host
    return web.json_response(
        {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    )


@_get("/api/v1")
async def get_core_v1(_: web.Request) -> web.Response:
    return web.json_response(
        {"kind": "APIResourceList", "groupVersion": "v1", "resources": _CORE_RESOURCES}
    )


@_get("/apis")
async def get_groups(_: web.Request) -> web.Response:
    return web.json_response(
        {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_DISCOVERY_GROUP]}
    )


@_get("/apis/discovery.k8s.io")
async def get_discovery_group(_: web.Request) -> web.Response:
    return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **_DISCOVERY_GROUP})


@_get("/apis/discovery.k8s.io/v1")
async def get_discovery_v1(_: web.Request) -> web.Response:
    return web.json_response(
        {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "discovery.k8s.io/v1",
            "resources": _DISCOVERY_RESOURCES,
        }
    )
