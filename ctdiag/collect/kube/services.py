"""The expected Services of a cluster: every Service and EndpointSlice, as kube-proxy reads them.

Two lists over all namespaces, paged (``limit``/``continue``) so a large cluster is never one
huge answer; each object goes back to the API's JSON shape
(``api_client.sanitize_for_serialization``) and :func:`ctdiag.parse.services.services_from_k8s`
turns them into :class:`~ctdiag.model.services.ExpectedService` values. Needs get/list on
``services`` and ``endpointslices.discovery.k8s.io`` cluster-wide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctdiag.collect.kube.access import Cluster
from ctdiag.model.services import ExpectedService
from ctdiag.parse.services import services_from_k8s

#: Objects per page: what kubectl asks for (``--chunk-size``).
PAGE_SIZE = 500


def _list_all(cluster: Cluster, what: str, method: Callable[..., Any]) -> list[dict[str, Any]]:
    """Every object a cluster-wide list returns, page after page, as API JSON dicts."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = cluster.call(what, method, limit=PAGE_SIZE, _continue=token)
        found.extend(cluster.api_client.sanitize_for_serialization(item) for item in page.items)
        token = page.metadata._continue if page.metadata is not None else None
        if not token:
            return found


def list_expected_services(cluster: Cluster) -> tuple[ExpectedService, ...]:
    """The cluster's Services with a ClusterIP and their endpoints, sorted by namespace/name.

    Raises:
        ApiError: a list failed (403 names the missing permission, as the server said it).
        ExpectationError: an object the API should never have accepted.
    """
    services = _list_all(
        cluster, "list services in all namespaces", cluster.core.list_service_for_all_namespaces
    )
    slices = _list_all(
        cluster,
        "list endpointslices in all namespaces",
        cluster.discovery.list_endpoint_slice_for_all_namespaces,
    )
    return services_from_k8s(services, slices)
