"""Service DNAT verdicts: do a node's Service flows reach serving endpoints?

The verdicts slice the index :func:`~ctdiag.analyze.service_flows.index_service_flows` builds
once per node: :func:`service_dnat_verdict` (untranslated entries, wrong target ports),
:func:`~ctdiag.assess.stale_services.stale_dnat_verdict` (entries DNAT'd to addresses that are
no serving endpoint) and :func:`unreplied_services_verdict` (serving endpoints that never
answer). Each entry lands in exactly one class of the index, so each problem fails exactly one
check. With Cilium's kube-proxy replacement Services never show in nf_conntrack
(:func:`~ctdiag.assess.service_proxy.service_nat_in_conntrack`).
"""

from __future__ import annotations

import numpy as np

from ctdiag.analyze.service_flows import FlowClass, ServiceFlows, service_target
from ctdiag.assess.evidence import entry_lines, serving_endpoints_text, zones_text
from ctdiag.assess.thresholds import SPEC_BY_NAME
from ctdiag.model.services import ServiceProtocol
from ctdiag.model.table import FlagBit
from ctdiag.model.verdict import Level, Remedy, Verdict

SERVICE_UNREPLIED_COUNT = int(SPEC_BY_NAME["service_unreplied_count"].default)
SERVICE_UNREPLIED_SHARE = SPEC_BY_NAME["service_unreplied_share"].default
#: UDP ports whose protocol always answers (DNS), so silence there is a blackhole; on other
#: UDP ports it may be a one-way protocol (statsd, syslog) and only warns.
ANSWERING_UDP_PORTS = frozenset({53})
DNAT_SOURCE = (
    "kube-proxy Service NAT: reply source = a serving endpoint IP:targetPort "
    "(ctdiag/checks/README.md#services)"
)


MISSING_RULE = Remedy(
    "restore the Service rule: check kube-proxy (or the CNI's Service proxy) on this node, its "
    "logs and sync errors, and the rule itself (iptables-save -t nat | grep SERVICE_IP, "
    "nft list ruleset, ipvsadm -Ln); then delete the untranslated entries (conntrack -D -p "
    "PROTO --orig-dst SERVICE_IP --orig-port-dst PORT --reply-src SERVICE_IP), since a UDP "
    "entry keeps its flow untranslated while the client keeps sending",
    "deleting drops those flows' state; clients retry and get translated once the rule exists",
)
WRONG_TARGET = Remedy(
    "compare the Service's targetPort with the ports the pods listen on and the EndpointSlice "
    "ports; a Service edited under running flows leaves entries to the old port until they "
    "expire or are deleted (conntrack -D -p PROTO --orig-dst SERVICE_IP --reply-port-src OLD)",
    "deleting drops those flows' state; clients retry",
)
DEAD_ENDPOINT = Remedy(
    "find why the endpoint never answers while it counts as ready: a readiness probe that "
    "passes while the Service's target port is dead, a NetworkPolicy or host firewall dropping "
    "traffic to or from it, a wrong targetPort; fix or remove the pod",
    "deleting the [UNREPLIED] entries alone does not help: new flows are DNAT'd to the same "
    "endpoint as long as it stays ready",
)


def service_dnat_verdict(flows: ServiceFlows, port_id: str, *, evidence_limit: int = 20) -> Verdict:
    """Entries towards the Service port must be DNAT'd to a serving endpoint's IP:targetPort.

    Fails on untranslated entries (the Service rule is missing) and on translations to a
    serving endpoint address at a port it does not serve. Translations to addresses that are
    no endpoint are :func:`~ctdiag.assess.stale_services.stale_dnat_verdict`'s, blackholed endpoints
    :func:`unreplied_services_verdict`'s. No entry at all passes, saying it proves nothing.
    """
    k = flows.position(port_id)
    port, counts, zones = flows.ports[k], flows.counts[k], flows.zones[k]
    served, stale, wrong, missing, chain = (int(x) for x in counts)
    target, total = service_target(port), int(counts.sum())
    figures = tuple((cls.name.lower(), float(counts[cls])) for cls in FlowClass)
    threshold = "fail on any untranslated entry or any DNAT to a port the endpoint does not serve"
    if total == 0:
        return Verdict(
            Level.PASS,
            f"{port_id}: no entry towards {target} in any zone: no traffic seen on this node, "
            "so its translation is not verified (an empty table does not prove there was no "
            "traffic: conntrack hooks register only once a rule needs them)",
            threshold,
            DNAT_SOURCE,
            figures=figures,
        )
    problems = []
    if missing:
        problems.append(
            f"{missing:,} of {total:,} entries are not translated (reply source is "
            "the Service address itself: the Service rule is missing)"
        )
    if wrong:
        ips = {e.ip for e in port.port.serving_endpoints}
        wrong_to = ", ".join(str(r) for r in flows.replies[k] if not r.serving and r.address in ips)
        problems.append(
            f"{wrong:,} entries are DNAT'd to {wrong_to}, a port the endpoint does "
            f"not serve (serving endpoints: {serving_endpoints_text(port)})"
        )
    aside = []
    if stale:
        aside.append(f"{stale:,} to addresses that are no serving endpoint (test_stale_dnat)")
    if chain:
        aside.append(f"{chain:,} untranslated links of flows translated in another zone")
    extra = f"; also {', '.join(aside)}" if aside else ""
    held = f"evidence in {zones_text(zones)}"
    if problems:
        rows = np.concatenate(
            [flows.class_rows(k, FlowClass.UNTRANSLATED), flows.class_rows(k, FlowClass.WRONG_PORT)]
        )
        return Verdict(
            Level.FAIL,
            f"{port_id} towards {target}: {'; '.join(problems)}{extra}; {held}",
            threshold,
            DNAT_SOURCE,
            MISSING_RULE if missing else WRONG_TARGET,
            entry_lines(flows.table, rows, evidence_limit),
            len(rows),
            figures,
        )
    seen = [r for r in flows.replies[k] if r.serving]
    listed = ", ".join(f"{r} ({r.entries:,})" for r in seen)
    return Verdict(
        Level.PASS,
        f"{port_id}: {served:,} entries towards {target} are DNAT'd to serving endpoints "
        f"({listed}; serving: {serving_endpoints_text(port)}){extra}; {held}",
        threshold,
        DNAT_SOURCE,
        figures=figures,
    )


def unreplied_services_verdict(
    flows: ServiceFlows,
    port_id: str,
    *,
    max_count: int = SERVICE_UNREPLIED_COUNT,
    max_share: float = SERVICE_UNREPLIED_SHARE,
    evidence_limit: int = 20,
) -> Verdict:
    """Serving endpoints that never answer: ``[UNREPLIED]`` entries DNAT'd to them.

    Judged per endpoint, so one dead endpoint among healthy ones is found: more than
    ``max_count`` of its entries and more than ``max_share`` of them unreplied fails (TCP,
    SCTP, and UDP on :data:`ANSWERING_UDP_PORTS`; other UDP may be one-way and warns); the
    count alone warns. Untranslated and stale entries are the other checks' findings.
    """
    k = flows.position(port_id)
    port = flows.ports[k]
    answering = (
        port.port.protocol is not ServiceProtocol.UDP or port.port.port in ANSWERING_UDP_PORTS
    )
    judged = []
    for r in flows.replies[k]:
        if not r.serving:
            continue
        share = r.unreplied / r.entries
        over_count, over_share = r.unreplied > max_count, share > max_share
        level = Level.PASS if not over_count else Level.WARN
        if over_count and over_share and answering:
            level = Level.FAIL
        judged.append((level, r, share))
    level = max((j[0] for j in judged), default=Level.PASS)
    total = sum(r.entries for _, r, _ in judged)
    silent = sum(r.unreplied for _, r, _ in judged)
    bad = [
        f"{r}: {r.unreplied:,} of {r.entries:,} [UNREPLIED] ({s:.1%})"
        for lv, r, s in judged
        if lv is not Level.PASS
    ]
    finding = (
        f"{port_id}: {silent:,} of {total:,} entries DNAT'd to serving endpoints of "
        f"{service_target(port)} are [UNREPLIED]"
    )
    if bad:
        finding += f"; endpoints that do not answer: {', '.join(bad)}"
        if level is Level.WARN and not answering:
            finding += " (UDP: a one-way protocol such as statsd or syslog never answers)"
    rows = flows.class_rows(k, FlowClass.SERVED)
    rows = rows[(flows.table.columns["flags"][rows] & FlagBit.UNREPLIED) != 0]
    failing = level is not Level.PASS
    given = (max_count, max_share)
    defaults = (SERVICE_UNREPLIED_COUNT, SERVICE_UNREPLIED_SHARE)
    source = SPEC_BY_NAME["service_unreplied_count"].source
    return Verdict(
        level,
        finding,
        f"per endpoint: fail when > {max_count:,} entries and > {max_share:g} of its entries "
        "are [UNREPLIED] (UDP only on ports that always answer: "
        f"{', '.join(map(str, sorted(ANSWERING_UDP_PORTS)))}); warn on the count alone",
        source if given == defaults else f"set for this run (default 5 and 0.5: {source})",
        DEAD_ENDPOINT if failing else None,
        tuple(bad) + entry_lines(flows.table, rows, evidence_limit) if failing else (),
        len(bad) + len(rows) if failing else 0,
        (("unreplied", float(silent)), ("entries", float(total))),
    )
