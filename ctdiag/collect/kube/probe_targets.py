"""Where ``--probe`` may send packets on a cluster: what its API reports, never the expected
Services being checked (an ``--expect`` file may name any address).

Three cluster-wide lists, paged (``limit``/``continue``) and read as raw JSON (a cluster's
pod list is its largest answer; no model objects are built for it):

- Services: every ClusterIP (``spec.clusterIPs``) -> Service addresses;
- pods with ``fieldSelector=status.phase=Running``: ``status.podIPs`` of those not on the
  host network (a host-network pod has its node's address) -> pod addresses;
- nodes: ``spec.podCIDRs`` -> pod networks (absent where the CNI allocates its own
  subnets, OVN-Kubernetes and Calico: the pods list covers those).

The Service CIDR is not read: the listed ClusterIPs are exact, and ServiceCIDR objects need
Kubernetes 1.33 and one more permission. Needs ``list`` on ``services``, ``pods`` and
``nodes`` in all namespaces; any failure (a 403 included) is an
:class:`~ctdiag.errors.ApiError` of one line, and the caller refuses every probe with it:
probes are never sent blind.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ctdiag.collect.kube.access import Cluster
from ctdiag.errors import ApiError
from ctdiag.model.probes import Network, ProbeTargets

#: Objects per page: what kubectl asks for (``--chunk-size``).
PAGE_SIZE = 500
RUNNING = "status.phase=Running"


def _normal(text: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return None


def _network(text: object) -> Network | None:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def probe_targets_from_k8s(
    services: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]], basis: str,
) -> ProbeTargets:  # fmt: skip
    """The probe targets of API objects (JSON dicts as the API sends them).

    Args:
        services: v1 Services (their ClusterIPs; ``None`` of headless ones is skipped).
        pods: v1 Pods; those on the host network, or not Running, add nothing.
        nodes: v1 Nodes (their pod CIDRs).
        basis: who reports them, for refusal lines (``the API of ctx (https://...) reports``).
    """
    service_ips: set[str] = set()
    for svc in services:
        spec = svc.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            if ip and ip != "None" and (normal := _normal(ip)):
                service_ips.add(normal)
    pod_ips: set[str] = set()
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if spec.get("hostNetwork") or status.get("phase") != "Running":
            continue
        listed = [entry.get("ip") for entry in status.get("podIPs") or []]
        for ip in listed or [status.get("podIP")]:
            if ip and (normal := _normal(ip)):
                pod_ips.add(normal)
    networks: dict[Network, None] = {}
    for node in nodes:
        spec = node.get("spec") or {}
        for cidr in spec.get("podCIDRs") or [spec.get("podCIDR")]:
            if cidr and (net := _network(cidr)) is not None:
                networks[net] = None
    return ProbeTargets(frozenset(service_ips), frozenset(pod_ips - service_ips),
                        tuple(networks), basis)  # fmt: skip


def _fetch(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` answering the parsed JSON body (read inside the call, so a connection
    lost mid-answer is retried like any other)."""

    def fetch(**kwargs: Any) -> Any:
        response = method(_preload_content=False, **kwargs)
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()

    return fetch


def _list_raw(cluster: Cluster, what: str, method: Callable[..., Any],
              **query: Any) -> list[Mapping[str, Any]]:  # fmt: skip
    """Every object of a cluster-wide list, page after page, as API JSON dicts."""
    found: list[Mapping[str, Any]] = []
    token: str | None = None
    while True:
        try:
            page = cluster.call(what, _fetch(method), limit=PAGE_SIZE, _continue=token, **query)
        except ValueError as exc:  # not JSON: no API server answered
            raise ApiError(f"{what}: the answer is not JSON: {exc}", status=0) from None
        if not isinstance(page, dict):
            raise ApiError(f"{what}: the answer is not a list object", status=0)
        found.extend(item for item in page.get("items") or [] if isinstance(item, dict))
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return found


def list_probe_targets(cluster: Cluster) -> ProbeTargets:
    """The cluster's probe targets (see the module docstring), listed now.

    Raises:
        ApiError: a list failed; ForbiddenError (403) names the missing permission as the
            server said it.
    """
    core = cluster.core
    services = _list_raw(cluster, "list services in all namespaces",
                         core.list_service_for_all_namespaces)  # fmt: skip
    pods = _list_raw(cluster, "list pods in all namespaces", core.list_pod_for_all_namespaces,
                     field_selector=RUNNING)  # fmt: skip
    nodes = _list_raw(cluster, "list nodes", core.list_node)
    return probe_targets_from_k8s(services, pods, nodes, f"the API of {cluster.where} reports")
