"""Stale Service DNAT: entries sent to a Service port but DNAT'd to no serving endpoint.

kube-proxy's conntrack reconciler should delete them when an endpoint goes away; when it
does not, a UDP client keeps renewing its entry and its traffic stays blackholed.
"""

from __future__ import annotations

import numpy as np

from ctdiag.analyze.service_flows import FlowClass, ServiceFlows, hostport, service_target
from ctdiag.assess.evidence import serving_endpoints_text, zones_text
from ctdiag.model.services import ExpectedServicePort, ServiceProtocol
from ctdiag.model.table import Present
from ctdiag.model.verdict import Level, Remedy, Verdict

STALE_SOURCE = (
    "kube-proxy's conntrack reconciler rule (pkg/proxy/conntrack/cleanup.go; "
    "kubernetes#59368, #125467, #139628; ctdiag/checks/README.md#services)"
)


def stale_dnat_verdict(flows: ServiceFlows, port_id: str, *, evidence_limit: int = 20) -> Verdict:
    """Entries sent to the Service port but DNAT'd to an address that is no serving endpoint.

    kube-proxy's reconciler rule: UDP ones fail (every packet renews them, so the blackhole
    lasts as long as the client sends), TCP and SCTP ones warn (their connection is dead and
    ends at its timeout). The evidence gives each stale reply source with its count and the
    longest remaining timeout, then the flows.
    """
    k = flows.position(port_id)
    port = flows.ports[k]
    rows = flows.class_rows(k, FlowClass.STALE)
    udp = port.port.protocol is ServiceProtocol.UDP
    threshold = "UDP: fail on any stale entry; TCP and SCTP: warn on any"
    if not len(rows):
        return Verdict(
            Level.PASS,
            f"{port_id}: no entry towards {service_target(port)} is DNAT'd to "
            f"an address outside its serving endpoints ({serving_endpoints_text(port)})",
            threshold,
            STALE_SOURCE,
            figures=(("stale", 0.0),),
        )
    c = flows.table.columns
    has_timeout = (c["present"][rows] & Present.TIMEOUT) != 0
    timeouts = np.where(has_timeout, c["timeout"][rows], 0).astype(np.int64)
    src = c["reply_src"][rows]
    addresses = flows.table.dictionaries["addresses"]
    summary = []
    for code in np.unique(src).tolist():
        mine = src == code
        summary.append((addresses[code], int(mine.sum()), int(timeouts[mine].max())))
    summary.sort(key=lambda s: (-s[1], s[0]))
    longest = int(timeouts.max())
    renewal = (
        "every packet the client sends renews it, so the blackhole lasts as long as it sends"
        if udp
        else "the connection is dead and ends at its timeout"
    )
    gone = ", ".join(f"{a} ({n:,})" for a, n, _ in summary)
    finding = (
        f"{port_id}: {len(rows):,} {port.port.protocol.value} entries towards "
        f"{service_target(port)} are DNAT'd to {gone}, no serving endpoint "
        f"(serving: {serving_endpoints_text(port)}); the "
        f"longest has {longest:,} s left and {renewal}; {zones_text(_row_zones(flows, rows))}"
    )
    lines = tuple(
        f"reply source {a}: {n:,} entries, longest {t:,} s left" for a, n, t in summary
    ) + _flow_lines(flows, rows, evidence_limit)
    return Verdict(
        Level.FAIL if udp else Level.WARN,
        finding,
        threshold,
        STALE_SOURCE,
        _stale_remedy(port, [a for a, _, _ in summary], udp),
        lines,
        len(summary) + len(rows),
        (("stale", float(len(rows))), ("longest_timeout", longest)),
    )


def _row_zones(flows: ServiceFlows, rows: np.ndarray) -> dict[int, int]:
    c = flows.table.columns
    orig = (c["present"][rows] & Present.ZONE_ORIG) != 0
    zones, sizes = np.unique(
        np.where(orig, c["zone_orig"][rows], c["zone"][rows]), return_counts=True
    )
    return dict(zip(zones.tolist(), sizes.tolist(), strict=True))


def _stale_remedy(port: ExpectedServicePort, gone: list[str], udp: bool) -> Remedy:
    p = port.port
    proto = p.protocol.conntrack_name
    commands = [
        f"conntrack -D -p {proto} --orig-dst {a} --orig-port-dst {p.port} --reply-src {r}"
        for a in port.service.addresses
        for r in gone
        if (":" in a) == (":" in r)
    ]
    if p.node_port is not None:
        commands += [
            f"conntrack -D -p {proto} --orig-port-dst {p.node_port} --reply-src {r}" for r in gone
        ]
    shown = "; ".join(commands[:4]) + (
        f"; ... ({len(commands)} commands)" if len(commands) > 4 else ""
    )
    if udp:
        return Remedy(
            f"delete the stale entries (without -w, conntrack deletes them in every zone): "
            f"{shown}; and upgrade kube-proxy to a version with the UDP reconciler fixes "
            "(kubernetes#139629, #141371)",
            "deleting drops those flows' state: the client's next packet gets a fresh entry "
            "DNAT'd to a serving endpoint; until kube-proxy is fixed the next endpoint change "
            "can leave new stale entries",
        )
    return Remedy(
        f"let them expire, or delete them so the clients fail fast: {shown}",
        "the connections are dead either way; deleting makes the client's next packet meet a "
        "reset instead of waiting for the timeout",
    )


def _flow_lines(flows: ServiceFlows, rows: np.ndarray, limit: int) -> tuple[str, ...]:
    """``udp 10.244.1.100:40053 -> 10.96.0.10:53 DNAT to 10.244.1.21:53, zone 0, 28 s left``."""
    lines = []
    for i in rows[:limit].tolist():
        e = flows.table.entry(i)
        o, r = e.orig, e.reply
        left = f", {e.timeout} s left" if e.timeout is not None else ""
        flag = " [UNREPLIED]" if e.unreplied else ""
        zone = o.zone if o.zone is not None else e.zone
        lines.append(
            f"{e.proto} {hostport(o.src, o.sport or 0)} -> {hostport(o.dst, o.dport or 0)} "
            f"DNAT to {hostport(r.src, r.sport or 0)}, zone {zone}{left}{flag}"
        )
    return tuple(lines)
