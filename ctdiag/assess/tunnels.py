"""Overlay tunnel traffic should not be tracked: NOTRACK in the raw table (the checks guide)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctdiag.assess import remedies
from ctdiag.model.verdict import Level, Verdict

#: Default UDP ports: VXLAN (openshift-sdn, flannel) and Geneve (OVN-Kubernetes).
DEFAULT_PORTS = {"vxlan": 4789, "geneve": 6081}
#: The link kind, which ``ip -d -o`` prints after a ``\`` line break; not in the device name.
_KIND = re.compile(r"\\ +(vxlan|geneve) ")
_DSTPORT = re.compile(r"\bdstport (\d+)")
_NAME = re.compile(r"^\d+:\s+([^:@\s]+)")


@dataclass(frozen=True, slots=True)
class Tunnel:
    """An overlay device found in ``ip -d -o link show``."""

    device: str
    kind: str
    port: int


def find_tunnels(links_text: str) -> tuple[Tunnel, ...]:
    """VXLAN and Geneve devices with their UDP port, from ``ip -d -o link show`` output."""
    found = []
    for line in links_text.splitlines():
        kind = _KIND.search(line)
        name = _NAME.match(line)
        if not kind or not name:
            continue
        port = _DSTPORT.search(line)
        found.append(
            Tunnel(
                name.group(1),
                kind.group(1),
                int(port.group(1)) if port else DEFAULT_PORTS[kind.group(1)],
            )
        )
    return tuple(found)


def _iptables_notrack(rules: str, port: int) -> list[str]:
    # "--dport 4789", or multiport "--dports 4789,8472"; not "! --dport 4789" (all but it).
    dport = re.compile(rf"(?<!! )--dports? (?:[\d:,]*,)?{port}\b")
    hits = []
    for line in rules.splitlines():
        if not line.startswith("-A "):
            continue
        notrack = "-j NOTRACK" in line or ("-j CT" in line and "--notrack" in line)
        if notrack and dport.search(line) and "-p udp" in line:
            hits.append(line)
    return hits


def _nft_notrack(ruleset: str, port: int) -> list[str]:
    # The port alone or in an anonymous set: "udp dport 6081", "udp dport { 4789, 8472 }".
    dport = re.compile(rf"\budp dport (?:{port}\b|\{{[^}}]*\b{port}\b[^}}]*\}})")
    return [
        line.strip() for line in ruleset.splitlines() if "notrack" in line and dport.search(line)
    ]


def notrack_tunnels(tunnels: tuple[Tunnel, ...], *, iptables_raw: str, nft_ruleset: str) -> Verdict:
    """Each tunnel's UDP port must be NOTRACKed in the raw table (iptables or nftables)."""
    missing: list[int] = []
    evidence: list[str] = []
    for port in sorted({t.port for t in tunnels}):
        hits = _iptables_notrack(iptables_raw, port) + _nft_notrack(nft_ruleset, port)
        if hits:
            # One rule may cover several ports ("udp dport { 4789, 8472 }"): show it once.
            evidence.extend(hit for hit in hits if hit not in evidence)
        else:
            missing.append(port)
    devices = ", ".join(f"{t.device} ({t.kind} udp/{t.port})" for t in tunnels)
    level = Level.FAIL if missing else Level.PASS
    ports = ", ".join(f"udp/{port}" for port in missing)
    finding = (
        f"tunnel traffic is tracked: no raw-table NOTRACK for {ports}"
        if missing
        else "every tunnel port is NOTRACKed in the raw table"
    )
    return Verdict(
        level,
        f"{finding}; overlay devices: {devices}",
        threshold="a NOTRACK rule for each overlay port",
        source=(
            "openshift-sdn OPENSHIFT-NOTRACK, OVN-Kubernetes Geneve 6081 "
            "(ctdiag/checks/README.md#tunnels)"
        ),
        remedy=remedies.NOTRACK_TUNNELS if missing else None,
        evidence=tuple(evidence),
        evidence_total=len(evidence),
    )
