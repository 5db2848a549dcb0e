"""Services and their EndpointSlices as the API server serialises them."""

from __future__ import annotations

import hashlib
import uuid

from ctdiag.lab.apiserver.cluster import LabApiService, LabApiServicePort
from ctdiag.lab.apiserver.objects import Obj


def service_object(svc: LabApiService) -> Obj:
    """A v1 ClusterIP or NodePort Service."""
    ports = []
    for port in svc.ports:
        entry: Obj = {
            "name": port.name,
            "port": port.port,
            "protocol": port.protocol,
            "targetPort": port.target_port,
        }
        if port.node_port is not None:
            entry["nodePort"] = port.node_port
        ports.append(entry)
    node_port = any(p.node_port is not None for p in svc.ports)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.name, "namespace": svc.namespace, "labels": {"app": svc.name}},
        "spec": {
            "type": "NodePort" if node_port else "ClusterIP",
            "clusterIP": svc.cluster_ip,
            "clusterIPs": [svc.cluster_ip],
            "ipFamilies": ["IPv6" if ":" in svc.cluster_ip else "IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "selector": {"app": svc.name},
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            **({"externalTrafficPolicy": "Cluster"} if node_port else {}),
        },
        "status": {"loadBalancer": {}},
    }


def endpoint_slice_objects(svc: LabApiService, node_of: dict[str, str]) -> list[Obj]:
    """discovery.k8s.io/v1 EndpointSlices: one per distinct endpoint port.

    Args:
        svc: the Service.
        node_of: pod name -> node name, for ``nodeName`` (absent when unknown).
    """
    slices = []
    for port in sorted({ep.port for ep in svc.endpoints}):
        members = [ep for ep in svc.endpoints if ep.port == port]
        service_ports: list[LabApiServicePort | None] = [
            p for p in svc.ports if p.target_port == port
        ] or [None]
        suffix = hashlib.sha256(f"{svc.namespace}/{svc.name}/{port}".encode()).hexdigest()[:5]
        endpoints = []
        for ep in members:
            endpoint: Obj = {
                "addresses": [ep.ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "namespace": svc.namespace, "name": ep.pod},
            }
            if ep.pod in node_of:
                endpoint["nodeName"] = node_of[ep.pod]
            endpoints.append(endpoint)
        slices.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{svc.name}-{suffix}",
                    "namespace": svc.namespace,
                    "labels": {
                        "kubernetes.io/service-name": svc.name,
                        "endpointslice.kubernetes.io/managed-by": (
                            "endpointslice-controller.k8s.io"
                        ),
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": svc.name,
                            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, svc.namespace + svc.name)),
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "addressType": "IPv6" if members and ":" in members[0].ip else "IPv4",
                "endpoints": endpoints,
                "ports": [
                    {"name": sp.name if sp else "", "port": port,
                     "protocol": sp.protocol if sp else "TCP"}
                    for sp in service_ports
                ],
            }
        )
    return slices
