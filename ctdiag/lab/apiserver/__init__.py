"""A small but real Kubernetes API server for the lab, spoken to by the official client.

It serves namespaces, nodes (with their pod CIDRs), pods (with a simulated scheduler and
kubelet; workload pods listed as Running), Services and EndpointSlices over HTTPS with
watches and selectors, and ``pods/exec`` over WebSocket, where the command runs for real
inside the node's network namespace. :class:`LabFaults`
switches on what goes wrong in real clusters (RBAC, SCC, image pulls, 500s, dropped
streams).
"""

from __future__ import annotations

from ctdiag.lab.apiserver.cluster import (
    LabApiEndpoint,
    LabApiNode,
    LabApiPod,
    LabApiService,
    LabApiServicePort,
    lab_pods_from_topology,
    lab_services_from_topology,
)
from ctdiag.lab.apiserver.faults import LabFaults
from ctdiag.lab.apiserver.server import LabApiServer, serve_lab_api
from ctdiag.lab.apiserver.state import DeleteRecord

__all__ = [
    "DeleteRecord",
    "LabApiEndpoint",
    "LabApiNode",
    "LabApiPod",
    "LabApiServer",
    "LabApiService",
    "LabApiServicePort",
    "LabFaults",
    "lab_pods_from_topology",
    "lab_services_from_topology",
    "serve_lab_api",
]
