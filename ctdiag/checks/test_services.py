"""Is Service traffic translated to live endpoints? (checks guide: services)

One case per node and expected Service port (``test_stale_dnat[NODE-default/dns:53/udp]``);
the Services come from ``--expect=FILE``, the cluster's API or the lab, and ``service_flows``
is the node's entries towards them, indexed once per node (ctdiag/plugin/services.py). Where
Services are translated outside nf_conntrack (Cilium's kube-proxy replacement) they skip.
With ``--probe``, ``test_service_dnat`` also needs a fresh probe flow of the port to be
translated to a ready endpoint and answered (ctdiag/plugin/probes.py).
"""

from __future__ import annotations

from ctdiag.analyze.service_flows import ServiceFlows
from ctdiag.assess import services, stale_services
from ctdiag.assess.probe_verdicts import with_probes
from ctdiag.assess.thresholds import Thresholds
from ctdiag.checks import Judge
from ctdiag.model.probes import ProbeReport
from ctdiag.model.services import ExpectedServicePort


def test_service_dnat(service_port: ExpectedServicePort, service_flows: ServiceFlows,
                      probe_report: ProbeReport | None, thresholds: Thresholds,
                      judge: Judge) -> None:  # fmt: skip
    verdict = services.service_dnat_verdict(
        service_flows, service_port.id, evidence_limit=thresholds.evidence_limit)
    if probe_report is not None:  # --probe: a fresh flow proves or refutes the table
        verdict = with_probes(verdict, probe_report.service(service_port.id))
    judge(verdict)


def test_stale_dnat(service_port: ExpectedServicePort, service_flows: ServiceFlows,
                    thresholds: Thresholds, judge: Judge) -> None:  # fmt: skip
    judge(stale_services.stale_dnat_verdict(
        service_flows, service_port.id, evidence_limit=thresholds.evidence_limit))  # fmt: skip


def test_unreplied_services(service_port: ExpectedServicePort, service_flows: ServiceFlows,
                            thresholds: Thresholds, judge: Judge) -> None:  # fmt: skip
    judge(services.unreplied_services_verdict(
        service_flows, service_port.id, max_count=thresholds.service_unreplied_count,
        max_share=thresholds.service_unreplied_share,
        evidence_limit=thresholds.evidence_limit))  # fmt: skip
