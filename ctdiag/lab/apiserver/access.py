"""What every request goes through: the request log, bearer-token authentication, RBAC
faults, injected delays and 500s, and JSON ``Status`` bodies for aiohttp's own errors.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from ctdiag.lab.apiserver.state import STATE
from ctdiag.lab.apiserver.status import forbidden, internal_error, status_error, unauthorized

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Paths a real API server serves to anonymous clients too.
_OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


def is_exec(request: web.Request) -> bool:
    """Whether the request is a pods/exec stream (exempt from REST faults)."""
    return request.path.endswith("/exec") and "/pods/" in request.path


def authorize(
    request: web.Request, verb: str, resource: str, namespace: str | None = None, name: str = ""
) -> None:
    """Raise RBAC's 403 when the faults forbid ``verb`` on ``resource``.

    Raises:
        aiohttp.web.HTTPForbidden: with the API server's wording.
    """
    if request.app[STATE].faults.is_forbidden(verb, resource):
        raise forbidden(verb, resource, namespace, name)


def _as_status(request: web.Request, error: web.HTTPException) -> web.HTTPException:
    """aiohttp's plain-text 404/405 as the Status objects the API server sends."""
    if error.content_type == "application/json":
        return error
    if error.status == 404:
        return status_error(404, "the server could not find the requested resource")
    if error.status == 405:
        body = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server does not allow this method on the requested resource",
            "reason": "MethodNotAllowed", "code": 405,
        }
        return web.HTTPMethodNotAllowed(
            request.method, (), text=json.dumps(body), content_type="application/json"
        )
    return error


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log, authenticate, inject REST faults, then run ``handler``."""
    state = request.app[STATE]
    state.log_request(request.method, request.path_qs)
    token = request.headers.get("Authorization", "")
    if request.path not in _OPEN_PATHS and token != f"Bearer {state.token}":
        raise unauthorized()
    if not is_exec(request):
        line = f"{request.method} {request.path_qs}"
        delay = state.faults.delay_for(line)
        if delay > 0:
            await asyncio.sleep(delay)
        if state.faults.take_server_error(line):
            raise internal_error("lab fault: injected server error")
    try:
        return await handler(request)
    except web.HTTPException as error:
        raise _as_status(request, error) from None
