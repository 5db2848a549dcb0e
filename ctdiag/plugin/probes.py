"""``--probe``: prove the Service verdicts with fresh flows crafted by scapy (ctdiag.probes).

Once a node is collected, its probes are sent once, from the node's network namespace
(through its debug pod on a cluster), and their entries read back and deleted. Service
ports' results join ``test_service_dnat``; the INVALID and UNREPLIED self-tests are checks
of their own (``ctdiag/checks/test_probes.py``). Without ``--probe`` nothing is sent.
"""

from __future__ import annotations

import pytest

from ctdiag.analyze.node_state import NodeState
from ctdiag.collect.node_targets import TargetKind
from ctdiag.collect.scheduler import SampleScheduler
from ctdiag.errors import CtdiagError, ProbeTargetError
from ctdiag.lab.topology import default_lab
from ctdiag.model.probes import ProbeReport
from ctdiag.model.services import ExpectedService, expected_ports
from ctdiag.plugin.nodes import REGISTRY, fail_once
from ctdiag.probes.run import ProbeOptions, run_probes

PROBES = pytest.StashKey[dict[str, ProbeReport | str]]()
#: Seconds a node's probes may take in all (sending, reading, cleaning up).
PROBE_TIMEOUT_S = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag-services")
    group.addoption("--probe", action="store_true", dest="ctdiag_probe",
                    help="send probe traffic crafted with scapy from each node (a TCP SYN "
                         "or DNS query per expected Service port, INVALID and UNREPLIED "
                         "self-tests) and check its entries; needs python3 on the node")


@pytest.fixture
def probe_report(
    request: pytest.FixtureRequest, node: str, node_state: NodeState,
    node_scheduler: SampleScheduler, expected_services: tuple[ExpectedService, ...],
) -> ProbeReport | None:  # fmt: skip
    """The node's probe results (sent once, after its collection); ``None`` without --probe."""
    config = request.config
    if not config.option.ctdiag_probe:
        return None
    done = config.stash.setdefault(PROBES, {})
    if node not in done:
        done[node] = _probe(config, node, node_scheduler, expected_services)
    outcome = done[node]
    if isinstance(outcome, ProbeReport):
        node_state.probe_report = outcome  # the report's DNAT table shows it
    if isinstance(outcome, str):
        fail_once(request, f"the probes of node {node} could not run", outcome)
    return outcome


def _probe(config: pytest.Config, node: str, scheduler: SampleScheduler,
           services: tuple[ExpectedService, ...]) -> ProbeReport | str:  # fmt: skip
    target = config.stash[REGISTRY].targets[node]
    if target.kind is TargetKind.SNAPSHOT:
        return ProbeReport(node, (), skipped="a saved snapshot: probes need the live node")
    options = ProbeOptions()
    if config.option.lab:  # the lab's pods are the cluster's pods: self-test targets
        options = ProbeOptions(pod_addresses=tuple(p.ip for p in default_lab().pods))
    try:
        return run_probes(scheduler.runner(target), expected_ports(services),
                          timeout=PROBE_TIMEOUT_S, options=options)  # fmt: skip
    except ProbeTargetError as exc:
        return f"{node}: probes refused: {exc}"
    except CtdiagError as exc:
        return f"{node}: probes failed: {exc}"
