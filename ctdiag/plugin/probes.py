"""``--probe``: prove the Service verdicts with fresh flows crafted by scapy (ctdiag.probes).

Once a node is collected, its probes are sent once, from the node's network namespace
(through its debug pod on a cluster), and their entries read back and deleted. Service
ports' results join ``test_service_dnat``; the INVALID and UNREPLIED self-tests are checks
of their own (``ctdiag/checks/test_probes.py``). Without ``--probe`` nothing is sent.

Where probes may go comes from the cluster or node itself, never from the expected
Services: on a cluster, its API's ClusterIPs, running pods and pod CIDRs, listed once per
run (:mod:`ctdiag.collect.kube.probe_targets`; a failed list refuses every probe with its
line); for ``--local``, ``--netns`` and ``--lab``, what the node's collected nat table and
routes say it routes to its Services and pods (:mod:`ctdiag.probes.routed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ctdiag.collect.node_targets import TargetKind
from ctdiag.errors import CtdiagError, ProbeTargetError
from ctdiag.model.probes import ProbeReport, ProbeTargets
from ctdiag.model.services import ExpectedService, expected_ports
from ctdiag.plugin.cluster import access_options
from ctdiag.plugin.nodes import REGISTRY, fail_once

if TYPE_CHECKING:  # scapy and the Kubernetes client load only for a run with --probe
    from ctdiag.analyze.node_state import NodeState
    from ctdiag.collect.scheduler import SampleScheduler

PROBES = pytest.StashKey[dict[str, ProbeReport | str]]()
#: The cluster's probe targets (or why they could not be listed), listed once per run.
CLUSTER_TARGETS = pytest.StashKey[ProbeTargets | str]()
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
        done[node] = _probe(config, node, node_state, node_scheduler, expected_services)
    outcome = done[node]
    if isinstance(outcome, ProbeReport):
        node_state.probe_report = outcome  # the report's DNAT table shows it
    if isinstance(outcome, str):
        fail_once(request, f"the probes of node {node} could not run", outcome)
    return outcome


def _cluster_targets(config: pytest.Config) -> ProbeTargets | str:
    """The cluster's probe targets from its API, or the one line saying why not (once)."""
    if CLUSTER_TARGETS not in config.stash:
        from ctdiag.collect.kube.access import connect
        from ctdiag.collect.kube.probe_targets import list_probe_targets

        try:
            cluster = connect(access_options(config))
            try:
                config.stash[CLUSTER_TARGETS] = list_probe_targets(cluster)
            finally:
                cluster.close()
        except CtdiagError as exc:
            config.stash[CLUSTER_TARGETS] = f"cannot list where probes may go: {exc}"
    return config.stash[CLUSTER_TARGETS]


def _probe(config: pytest.Config, node: str, state: NodeState, scheduler: SampleScheduler,
           services: tuple[ExpectedService, ...]) -> ProbeReport | str:  # fmt: skip
    from ctdiag.probes.routed import snapshot_targets
    from ctdiag.probes.run import run_probes

    target = config.stash[REGISTRY].targets[node]
    if target.kind is TargetKind.SNAPSHOT:
        return ProbeReport(node, (), skipped="a saved snapshot: probes need the live node")
    if target.kind is TargetKind.KUBE and not config.option.lab:
        targets = _cluster_targets(config)
        if isinstance(targets, str):
            return f"{node}: probes refused: {targets}"
    else:  # --local, --netns, --lab: what the node routes, as collected
        targets = snapshot_targets(state.snapshot)
    try:
        return run_probes(scheduler.runner(target), expected_ports(services), targets,
                          timeout=PROBE_TIMEOUT_S)  # fmt: skip
    except ProbeTargetError as exc:
        return f"{node}: probes refused: {exc}"
    except CtdiagError as exc:
        return f"{node}: probes failed: {exc}"
