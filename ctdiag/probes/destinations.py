"""Where probes may go, and which source ports they use (pure).

Probes only ever target addresses the checked cluster or node itself reports: a
:class:`~ctdiag.model.probes.ProbeTargets` gathered at the edge, from the cluster's API
(:mod:`ctdiag.collect.kube.probe_targets`) or from what the node routes
(:mod:`ctdiag.probes.routed`), never from the expectations being checked. The decisions
here are pure: is this address a Service or pod address of those reports; which pod do the
self-tests aim at.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections.abc import Collection, Sequence

from ctdiag.errors import ProbeTargetError
from ctdiag.model.probes import ProbeTargets
from ctdiag.model.services import ExpectedServicePort

#: Source ports come from above Linux's default ephemeral range (32768-60999), so the
#: node's own sockets are not handed one of them while a probe is under way.
SOURCE_PORTS = range(61000, 65536)


class TargetRole(enum.Enum):
    """What the reports say an address is."""

    SERVICE = "Service address"
    POD = "pod address"


def normal_address(text: str) -> str:
    """``text`` in the table's normal form; :class:`ProbeTargetError` when not an address."""
    try:
        if "%" in text:
            raise ValueError(text)
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ProbeTargetError(f"not an IPv4 or IPv6 address: {text!r}") from None


def address_order(address: str) -> tuple[int, int]:
    """A sort key for normalised addresses: IPv4 before IPv6, then numerically."""
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def target_role(targets: ProbeTargets, address: str) -> TargetRole | None:
    """What ``address`` is according to ``targets``; ``None``: neither a Service nor a pod.

    A Service address wins over a pod network that happens to contain it.

    Raises:
        ProbeTargetError: ``address`` is not an IP address.
    """
    normal = normal_address(address)
    if normal in targets.service_addresses:
        return TargetRole.SERVICE
    if normal in targets.pod_addresses:
        return TargetRole.POD
    ip = ipaddress.ip_address(normal)
    if any(ip.version == net.version and ip in net for net in targets.pod_networks):
        return TargetRole.POD
    return None


def refusal(targets: ProbeTargets, address: str, *, pod_only: bool = False) -> str | None:
    """Why probes may not go to ``address`` (one line), or ``None`` when they may.

    Args:
        targets: what the cluster or node reports.
        address: the destination.
        pod_only: only a pod address will do (the self-tests).
    """
    try:
        role = target_role(targets, address)
    except ProbeTargetError as exc:
        return str(exc)
    if role is TargetRole.POD or (role is TargetRole.SERVICE and not pod_only):
        return None
    if role is TargetRole.SERVICE:
        return f"{address} is a Service address, not a pod address {targets.basis}"
    if pod_only:
        return f"{address} is not a pod address {targets.basis}"
    return f"{address} is neither a Service address nor a pod address {targets.basis}"


def check_target(targets: ProbeTargets, address: str, *, pod_only: bool = False) -> str:
    """``address`` normalised, if probes may go there.

    Raises:
        ProbeTargetError: they may not (``probe refused: WHY``, one line).
    """
    why = refusal(targets, address, pod_only=pod_only)
    if why is not None:
        raise ProbeTargetError(f"probe refused: {why}")
    return normal_address(address)


def self_test_target(
    targets: ProbeTargets, services: Sequence[ExpectedServicePort]
) -> str | None:
    """The self-tests' pod: the first ready endpoint the reports call a pod address, else
    the lowest reported pod address; ``None`` when no pod address is reported."""
    for port in services:
        for endpoint in port.port.ready_endpoints:
            if refusal(targets, endpoint.ip, pod_only=True) is None:
                return normal_address(endpoint.ip)
    if targets.pod_addresses:
        return min(targets.pod_addresses, key=address_order)
    return None


def pick_source_ports(count: int, used: Collection[int], rng: random.Random) -> list[int]:
    """``count`` distinct source ports from :data:`SOURCE_PORTS`, none of them in ``used``.

    Raises:
        ProbeTargetError: not enough free ports (a table full of probe-range ports).
    """
    free = [port for port in SOURCE_PORTS if port not in used]
    if len(free) < count:
        raise ProbeTargetError(f"only {len(free)} free source ports for {count} probes")
    return rng.sample(free, count)
