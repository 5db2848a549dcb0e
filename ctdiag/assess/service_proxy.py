"""Who translates Services on a node: netfilter (so they show in nf_conntrack) or eBPF."""

from __future__ import annotations

import re
from collections.abc import Iterable

CILIUM_LINKS = frozenset({"cilium_host", "cilium_net", "cilium_vxlan", "cilium_geneve"})
_LINK_NAME = re.compile(r"^\d+:\s+([^:@\s]+)", re.MULTILINE)


def link_names(ip_link_text: str) -> tuple[str, ...]:
    """Device names from ``ip -o link`` / ``ip -d -o link show`` output."""
    return tuple(_LINK_NAME.findall(ip_link_text))


def service_nat_in_conntrack(links: Iterable[str], service_dnat_seen: bool) -> tuple[bool, str]:
    """Whether Service translation shows in nf_conntrack, so the DNAT checks apply.

    Args:
        links: the node's link names (:func:`link_names`).
        service_dnat_seen: whether any entry is DNAT'd towards an expected Service
            (:attr:`ServiceFlows.translated` > 0).

    Returns:
        ``(True, why)`` when the checks apply; ``(False, reason)`` to skip them: Cilium's
        links with no Service DNAT entry mean its kube-proxy replacement translates in eBPF.
    """
    cilium = sorted(CILIUM_LINKS.intersection(links))
    if cilium and not service_dnat_seen:
        return False, (
            "Cilium kube-proxy replacement: Services are translated in eBPF, not in "
            f"nf_conntrack (links {', '.join(cilium)}, no Service DNAT entry; "
            "ctdiag/checks/README.md#services)"
        )
    if cilium:
        return True, "Cilium without kube-proxy replacement: Service DNAT entries are tracked"
    return True, "Services are translated by netfilter: their DNAT shows in nf_conntrack"
