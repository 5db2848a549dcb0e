"""Where probes may go, and which source ports they use (pure).

Probes only ever target Service and pod addresses of the cluster (or lab) being checked:
a :class:`ProbeScope` is built from the expected Services (their ClusterIPs, and their
endpoints' addresses, which are pod addresses) plus any pod addresses the caller knows,
and every crafted packet's destination is checked against it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from ctdiag.errors import ProbeTargetError
from ctdiag.model.services import ExpectedServicePort

#: Source ports come from above Linux's default ephemeral range (32768-60999), so the
#: node's own sockets are not handed one of them while a probe is under way.
SOURCE_PORTS = range(61000, 65536)


def normal_address(text: str) -> str:
    """``text`` in the table's normal form; :class:`ProbeTargetError` when not an address."""
    try:
        if "%" in text:
            raise ValueError(text)
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ProbeTargetError(f"not an IPv4 or IPv6 address: {text!r}") from None


@dataclass(frozen=True, slots=True)
class ProbeScope:
    """The addresses probes may target.

    Attributes:
        service_addresses: ClusterIPs of the expected Services.
        pod_addresses: endpoint addresses of those Services and pod addresses given.
    """

    service_addresses: frozenset[str]
    pod_addresses: frozenset[str]

    @classmethod
    def of(
        cls, services: Iterable[ExpectedServicePort], pod_addresses: Iterable[str] = ()
    ) -> ProbeScope:
        """The scope of ``services`` (ClusterIPs and endpoints) and extra ``pod_addresses``.

        Raises:
            ProbeTargetError: a pod address that is not an IP address.
        """
        ports = tuple(services)
        svc = {normal_address(ip) for p in ports for ip in p.service.cluster_ips}
        pods = {normal_address(e.ip) for p in ports for e in p.port.endpoints}
        pods |= {normal_address(ip) for ip in pod_addresses}
        return cls(frozenset(svc), frozenset(pods))

    def check(self, address: str, *, pod_only: bool = False) -> str:
        """``address`` normalised, if probes may target it.

        Args:
            address: the destination.
            pod_only: only a pod address will do (the UNREPLIED self-test).

        Raises:
            ProbeTargetError: anything else (one line naming the address).
        """
        normal = normal_address(address)
        if normal in self.pod_addresses or (not pod_only and normal in self.service_addresses):
            return normal
        what = "a pod address" if pod_only else "a Service or pod address"
        raise ProbeTargetError(
            f"refusing to probe {address}: not {what} of the cluster being checked"
        )

    def default_pod(self, services: Sequence[ExpectedServicePort]) -> str:
        """The self-tests' target: the first ready endpoint of the first Service with one.

        Raises:
            ProbeTargetError: no pod address is known.
        """
        for port in services:
            for endpoint in port.port.ready_endpoints:
                return normal_address(endpoint.ip)
        if self.pod_addresses:
            return sorted(self.pod_addresses)[0]
        raise ProbeTargetError("no pod address to aim the self-tests at (no ready endpoint)")


def pick_source_ports(count: int, used: Collection[int], rng: random.Random) -> list[int]:
    """``count`` distinct source ports from :data:`SOURCE_PORTS`, none of them in ``used``.

    Raises:
        ProbeTargetError: not enough free ports (a table full of probe-range ports).
    """
    free = [port for port in SOURCE_PORTS if port not in used]
    if len(free) < count:
        raise ProbeTargetError(f"only {len(free)} free source ports for {count} probes")
    return rng.sample(free, count)
