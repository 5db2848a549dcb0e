"""Fixtures of the probe tests: the lab (under its machine-wide lock, always torn down) and
its Services as the checks expect them (through the lab API's own Service objects)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ctdiag.lab.apiserver.cluster import lab_services_from_topology
from ctdiag.lab.apiserver.services import endpoint_slice_objects, service_object
from ctdiag.lab.topology import LabNode
from ctdiag.model.services import ExpectedServicePort, expected_ports
from ctdiag.parse.services import services_from_k8s
from tests.held_lab import hold_lab


def lab_expected_ports(node: LabNode) -> tuple[ExpectedServicePort, ...]:
    """The lab's Service ports, read the way a cluster's are (Service + EndpointSlices)."""
    api = lab_services_from_topology(node)
    services = [service_object(svc) for svc in api]
    slices = [s for svc in api for s in endpoint_slice_objects(svc, {})]
    return expected_ports(services_from_k8s(services, slices))


@pytest.fixture(scope="package")
def lab(request: pytest.FixtureRequest) -> Iterator[LabNode]:
    """One lab for all probe tests; the lock and the teardown are finalizers, so a failing
    ``up`` still releases both."""
    yield hold_lab(request)


@pytest.fixture(scope="package")
def lab_ports(lab: LabNode) -> tuple[ExpectedServicePort, ...]:
    return lab_expected_ports(lab)
