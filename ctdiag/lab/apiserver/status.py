"""``metav1.Status`` answers: every error the lab API server gives, with the real wording.

Handlers raise the aiohttp exception :func:`status_error` builds; aiohttp sends it as the
response, so no error type of our own is needed.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

#: The identity every request is made as (the token carries no user in the lab).
LAB_USER = "system:serviceaccount:ctdiag:lab"

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "AlreadyExists",
    410: "Expired",
    422: "Invalid",
    500: "InternalError",
}

_EXCEPTIONS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    410: web.HTTPGone,
    422: web.HTTPUnprocessableEntity,
    500: web.HTTPInternalServerError,
}


def status_body(
    code: int, message: str, *, reason: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Failure ``Status`` object."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS[code],
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def status_error(
    code: int, message: str, *, reason: str | None = None, details: dict[str, Any] | None = None
) -> web.HTTPException:
    """An aiohttp exception whose body is the ``Status``; raise it from a handler."""
    body = status_body(code, message, reason=reason, details=details)
    return _EXCEPTIONS[code](text=json.dumps(body), content_type="application/json")


def _group_of(resource: str) -> str:
    return "discovery.k8s.io" if resource.startswith("endpointslices") else ""


def not_found(resource: str, name: str) -> web.HTTPException:
    """``pods "x" not found``."""
    details = {"name": name, "kind": resource.split("/")[0]}
    if group := _group_of(resource):
        details["group"] = group
    return status_error(404, f'{resource.split("/")[0]} "{name}" not found', details=details)


def already_exists(resource: str, name: str) -> web.HTTPException:
    """``pods "x" already exists``."""
    return status_error(
        409, f'{resource} "{name}" already exists', details={"name": name, "kind": resource}
    )


def forbidden(verb: str, resource: str, namespace: str | None, name: str = "") -> web.HTTPException:
    """RBAC's refusal, worded as the API server words it."""
    kind = resource.split("/")[0]
    subject = f'{kind} "{name}"' if name else kind
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    group = _group_of(resource)
    message = (
        f'{subject} is forbidden: User "{LAB_USER}" cannot {verb} resource "{resource}" '
        f'in API group "{group}" {scope}'
    )
    details: dict[str, Any] = {"kind": kind}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return status_error(403, message, details=details)


def bad_request(message: str) -> web.HTTPException:
    """400 BadRequest."""
    return status_error(400, message)


def unauthorized() -> web.HTTPException:
    """401, as for a missing or wrong bearer token."""
    return status_error(401, "Unauthorized")


def internal_error(message: str) -> web.HTTPException:
    """500 InternalError."""
    return status_error(500, f"Internal error occurred: {message}", details={"causes": [
        {"message": message}
    ]})


def success_status() -> dict[str, Any]:
    """``{"status": "Success"}`` as a full object."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
