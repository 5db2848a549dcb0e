"""The lab's Services as the Service checks expect them: pure, from the topology and its state.

``pytest --lab`` needs no API call for them: what the lab API serves
(:func:`~ctdiag.lab.apiserver.lab_services_from_topology`) is the topology, and
:func:`lab_expected_services` gives the same :class:`~ctdiag.model.services.ExpectedService`
values :func:`~ctdiag.parse.services.services_from_k8s` reads from it. Scenarios change the lab the
way a cluster changes: ``stale_udp`` takes an endpoint out of its Service (the API no longer
lists it), ``unreplied_flood`` adds the ``blackhole`` Service; the lab's state says which, so
the checks judge against the Services kube-proxy programmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ctdiag.lab.state import LabState, effective_services
from ctdiag.lab.topology import LabNode, LabService
from ctdiag.model.services import (
    ExpectedService,
    ServiceEndpoint,
    ServicePort,
    ServiceProtocol,
)

#: Scenarios that add Services while they are on, by the state they leave.
_ADDS_BLACKHOLE = "unreplied_flood"


def expected_from_lab_services(services: Iterable[LabService]) -> tuple[ExpectedService, ...]:
    """Lab Service ports as expected Services: ports sharing a namespace and name form one
    Service (as ``lab_services_from_topology`` merges them), sorted by namespace and name."""
    merged: dict[tuple[str, str], list[LabService]] = {}
    for svc in services:
        merged.setdefault((svc.k8s_namespace, svc.name), []).append(svc)
    found = []
    for (namespace, name), ports in merged.items():
        found.append(
            ExpectedService(
                namespace=namespace,
                name=name,
                cluster_ips=(ports[0].cluster_ip,),
                ports=tuple(
                    ServicePort(
                        port=p.port,
                        protocol=ServiceProtocol[p.protocol.value.upper()],
                        target_port=p.target_port,
                        endpoints=tuple(
                            sorted(
                                (ServiceEndpoint(e.ip, e.port, pod=e.pod) for e in p.endpoints),
                                key=lambda e: (e.ip, e.port),
                            )
                        ),
                        name=p.port_name,
                        node_port=p.node_port,
                    )
                    for p in ports
                ),
            )
        )
    return tuple(sorted(found, key=lambda s: (s.namespace, s.name)))


def lab_expected_services(
    node: LabNode, state: LabState | None = None
) -> tuple[ExpectedService, ...]:
    """The Services of ``node`` as they are in ``state`` (default: as built, what the lab
    API serves)."""
    return expected_from_lab_services(effective_services(node, state or LabState()))


def planned_lab_services(node: LabNode, scenarios: Sequence[str]) -> tuple[ExpectedService, ...]:
    """The Services a run with these scenario specs (``NAME[:knobs]``) will have once they
    are on: known before the lab is built, so checks can be parametrised per Service port.
    Their endpoints are the topology's: the scenarios' endpoint changes come later."""
    names = {spec.partition(":")[0] for spec in scenarios}
    return lab_expected_services(node, LabState(blackhole=_ADDS_BLACKHOLE in names))
