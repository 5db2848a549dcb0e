"""Service rules the way kube-proxy's iptables mode writes them, as ``iptables-restore`` text.

Chain names use kube-proxy's hashes (base32 of SHA-256 over the service port name and the
protocol, plus the endpoint for ``KUBE-SEP``), so a lab node's ruleset reads like a real
one. The text is built only from validated :class:`LabService` data: addresses parsed by
:mod:`ipaddress`, ports checked to be in range, names limited to DNS-label characters.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence

from ctdiag.errors import LabError
from ctdiag.lab.netns import run
from ctdiag.lab.topology import MASQ_MARK, LabNode, LabService

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def service_chain(svc: LabService) -> str:
    """``KUBE-SVC-<hash>`` of a Service port (kube-proxy ``servicePortChainName``)."""
    return "KUBE-SVC-" + _hash(svc.service_port_name + svc.protocol.value)


def external_chain(svc: LabService) -> str:
    """``KUBE-EXT-<hash>``: NodePort traffic enters here, gets marked, then jumps to SVC."""
    return "KUBE-EXT-" + _hash(svc.service_port_name + svc.protocol.value)


def endpoint_chain(svc: LabService, endpoint: str) -> str:
    """``KUBE-SEP-<hash>`` of one endpoint (``ip:port``) of a Service port."""
    return "KUBE-SEP-" + _hash(svc.service_port_name + svc.protocol.value + endpoint)


def _validate(svc: LabService) -> None:
    for name in (svc.name, svc.port_name, svc.k8s_namespace):
        if not _NAME.match(name):
            raise LabError(f"service name part {name!r} is not a DNS label")
    ports = [svc.port, svc.target_port, *(e.port for e in svc.endpoints)]
    if svc.node_port is not None:
        ports.append(svc.node_port)
    if any(not 0 < p < 65536 for p in ports):
        raise LabError(f"service {svc.name}: port out of range in {ports}")
    try:
        for addr in (svc.cluster_ip, *(e.ip for e in svc.endpoints)):
            ipaddress.IPv4Address(addr)
    except ValueError as exc:
        raise LabError(f"service {svc.name}: {exc}") from exc


def _service_rules(
    svc: LabService, cluster_cidr: str, with_portal: bool
) -> tuple[list[str], list[str]]:
    """(chain declarations, rules) for one Service port."""
    spn, proto = svc.service_port_name, svc.protocol.value
    svc_chain = service_chain(svc)
    match = f"-m {proto} -p {proto}"
    chains = [svc_chain]
    rules: list[str] = []
    if not svc.endpoints:
        # kube-proxy REJECTs in the filter table instead; without endpoints nothing to DNAT.
        return [], []
    if with_portal:
        rules.append(
            f'-A KUBE-SERVICES -m comment --comment "{spn} cluster IP" {match} '
            f"-d {svc.cluster_ip}/32 --dport {svc.port} -j {svc_chain}"
        )
    if svc.node_port is not None:
        ext = external_chain(svc)
        chains.append(ext)
        rules += [
            f'-A KUBE-NODEPORTS -m comment --comment "{spn}" {match} '
            f"--dport {svc.node_port} -j {ext}",
            f'-A {ext} -m comment --comment "masquerade traffic for {spn} external destinations" '
            "-j KUBE-MARK-MASQ",
            f"-A {ext} -j {svc_chain}",
        ]
    rules.append(
        f'-A {svc_chain} -m comment --comment "{spn} cluster IP" {match} '
        f"-d {svc.cluster_ip}/32 --dport {svc.port} ! -s {cluster_cidr} -j KUBE-MARK-MASQ"
    )
    count = len(svc.endpoints)
    for index, ep in enumerate(svc.endpoints):
        sep = endpoint_chain(svc, str(ep))
        chains.append(sep)
        remaining = count - index
        # kube-proxy: endpoint i of n gets probability 1/(n-i); the last one is unconditional.
        statistic = ""
        if remaining > 1:
            statistic = f"-m statistic --mode random --probability {1 / remaining:.11f} "
        rules += [
            f'-A {svc_chain} -m comment --comment "{spn} -> {ep}" {statistic}-j {sep}',
            f'-A {sep} -m comment --comment "{spn}" -s {ep.ip}/32 -j KUBE-MARK-MASQ',
            f'-A {sep} -m comment --comment "{spn}" {match} -j DNAT --to-destination {ep}',
        ]
    return chains, rules


def render(
    node: LabNode, services: Sequence[LabService], *, without_portal: Iterable[str] = ()
) -> str:
    """The ``nat`` and ``filter`` tables of the node as ``iptables-restore`` input.

    Args:
        node: the lab node (cluster CIDR for the masquerade rule).
        services: Service ports to install.
        without_portal: names of Services whose ``KUBE-SERVICES`` ClusterIP rule is left
            out (a Service rule that went missing).
    """
    ipaddress.IPv4Network(node.cluster_cidr)
    hidden = set(without_portal)
    chains: list[str] = []
    body: list[str] = []
    for svc in services:
        _validate(svc)
        svc_chains, svc_rules = _service_rules(svc, node.cluster_cidr, svc.name not in hidden)
        chains += [c for c in svc_chains if c not in chains]
        body += svc_rules
    mark = f"{MASQ_MARK:#x}"
    nat = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        *(f":{c} - [0:0]" for c in chains),
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN",
        # Clear the bit so a re-traversal (e.g. after re-routing) is not masqueraded twice.
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
        *body,
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
        'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
        "COMMIT",
    ]
    filt = [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":KUBE-FORWARD - [0:0]",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        # kube-proxy PR #74840: out-of-window packets would reach pods un-DNATed; drop them.
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {mark}/{mark} -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "COMMIT",
    ]
    return "\n".join([*nat, *filt]) + "\n"


def apply(
    node: LabNode, services: Sequence[LabService], *, without_portal: Iterable[str] = ()
) -> None:
    """Replace the node's ``nat`` and ``filter`` tables with the rendered rules."""
    text = render(node, services, without_portal=without_portal)
    run(["iptables-restore", "-w", "5"], namespace=node.namespace, stdin=text)


SINK_RULES = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n"
"""A sink pod's firewall: everything that arrives is dropped silently (a blackholed pod)."""
