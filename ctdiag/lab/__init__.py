"""A real-kernel lab: a Kubernetes-like node made of network namespaces.

Every resource carries the prefix ``ctdlab-``. :func:`up` builds the node, its pods and
Services wired the way kube-proxy's iptables mode does; :func:`down` removes everything,
also after a crash; :data:`SCENARIOS` switches on problems the checks must catch.
"""

from __future__ import annotations

from ctdiag.errors import LabError
from ctdiag.lab.lifecycle import LabStatus, TeardownReport, down, status, up
from ctdiag.lab.netns import PREFIX
from ctdiag.lab.scenarios import SCENARIOS, Scenario, ScenarioOptions, ScenarioReport, scenario
from ctdiag.lab.topology import (
    Endpoint,
    LabNode,
    LabPod,
    LabService,
    PodRole,
    Protocol,
    default_lab,
)
from ctdiag.lab.traffic import TrafficPlan, TrafficRun, start_traffic, stop_traffic

__all__ = [
    "PREFIX",
    "SCENARIOS",
    "Endpoint",
    "LabError",
    "LabNode",
    "LabPod",
    "LabService",
    "LabStatus",
    "PodRole",
    "Protocol",
    "Scenario",
    "ScenarioOptions",
    "ScenarioReport",
    "TeardownReport",
    "TrafficPlan",
    "TrafficRun",
    "default_lab",
    "down",
    "scenario",
    "start_traffic",
    "status",
    "stop_traffic",
    "up",
]
