"""Probe data: what was crafted, what was found, and the verdicts (pure, no scapy, no I/O)."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

#: An IPv4 or IPv6 prefix (a pod CIDR).
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProbeKind(enum.Enum):
    """What a probe is for."""

    SERVICE_TCP = "service-tcp"
    """A TCP SYN to a Service port: its entry must be DNAT'd to a ready endpoint, replied."""
    SERVICE_UDP = "service-udp"
    """A UDP datagram (a DNS query for port 53) to a Service port: likewise."""
    INVALID = "invalid"
    """TCP SYN+RST: conntrack must count it in the ``invalid`` statistic."""
    UNREPLIED = "unreplied"
    """UDP to a pod port without a listener: its entry must stay ``[UNREPLIED]``."""


class ProbeLevel(enum.Enum):
    """A probe's verdict."""

    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class ProbeTargets:
    """The addresses probes may go to, as the checked cluster or node itself reports them.

    Never built from the expectations being checked: on a cluster from its API (Services'
    ClusterIPs, running pods' IPs, nodes' pod CIDRs), on a namespace or this machine from
    what it routes (its nat table's Service addresses and translations, its pod routes).

    Attributes:
        service_addresses: Service addresses, in the table's normal text form.
        pod_addresses: pod (and Service endpoint) addresses, in normal text form.
        pod_networks: prefixes whose every address is a pod address (nodes' pod CIDRs).
        basis: who reports them, ending the refusal line (``this node routes``).
    """

    service_addresses: frozenset[str]
    pod_addresses: frozenset[str]
    pod_networks: tuple[Network, ...]
    basis: str

    @property
    def empty(self) -> bool:
        """Nothing was reported: every probe would be refused."""
        return not (self.service_addresses or self.pod_addresses or self.pod_networks)


@dataclass(frozen=True, slots=True)
class ProbeTuple:
    """The original-direction tuple of a probe: the key of its conntrack entry.

    Attributes:
        protocol: ``tcp`` or ``udp``.
        src: source address (the node's own, as its routing picks it).
        sport: source port, chosen unused in the table.
        dst: destination address (a Service or pod address).
        dport: destination port.
    """

    protocol: str
    src: str
    sport: int
    dst: str
    dport: int

    def __str__(self) -> str:
        src, dst = _hostport(self.src, self.sport), _hostport(self.dst, self.dport)
        return f"{self.protocol} {src} -> {dst}"


@dataclass(frozen=True, slots=True)
class CraftedProbe:
    """One packet, ready to send, and the tuple its entry is found by.

    Attributes:
        kind: what the probe tests.
        port_id: the Service port's test id (``default/web:80/tcp``); ``""`` for self-tests.
        packet: the raw IP packet (header included), checksums filled in.
        flow: the original-direction tuple of the packet (its entry's key).
        description: what it is, for messages (``TCP SYN``, ``DNS query``).
        endpoints: ``ip:port`` of the Service port's ready endpoints (Service probes).
    """

    kind: ProbeKind
    port_id: str
    packet: bytes
    flow: ProbeTuple
    description: str
    endpoints: tuple[str, ...] = ()

    @property
    def sent_text(self) -> str:
        """``TCP SYN tcp 10.0.0.1:61234 -> 10.96.0.20:80``: what was sent."""
        return f"{self.description} {self.flow}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe showed.

    Attributes:
        port_id: the Service port's test id, or ``""`` for a self-test.
        kind: what the probe tested.
        sent: the packet left the sender (``False``: not sent, see the message).
        entry_found: an entry with the probe's exact original tuple was in the table.
        translated_to: the entry's reply source ``ip:port`` (the endpoint after DNAT).
        reply_seen: the entry has seen a reply (no ``[UNREPLIED]``).
        invalid_delta: the rise of the ``invalid`` counter over the probe (INVALID test).
        level: PASS, FAIL or SKIP.
        message: one line: what was sent, what was found, what was expected.
        replies: what the sender heard back (``tcp 10.96.0.20:80 SA``), informational.
    """

    port_id: str
    kind: ProbeKind
    sent: bool
    entry_found: bool
    translated_to: str | None
    reply_seen: bool
    invalid_delta: int | None
    level: ProbeLevel
    message: str
    replies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """Every probe of one node.

    Attributes:
        node: the node probed.
        results: Service probes (one per Service port and ClusterIP), then the self-tests.
        skipped: why nothing was probed (``python3`` missing ...), ``None`` when probed.
        cleanup: one line per entry that could not be deleted afterwards.
    """

    node: str
    results: tuple[ProbeResult, ...]
    skipped: str | None = None
    cleanup: tuple[str, ...] = ()

    def service(self, port_id: str) -> tuple[ProbeResult, ...]:
        """The results of one Service port (one per ClusterIP probed); empty if not probed."""
        return tuple(r for r in self.results if r.port_id == port_id and r.port_id)

    def _self_test(self, kind: ProbeKind) -> ProbeResult | None:
        return next((r for r in self.results if r.kind is kind), None)

    @property
    def invalid_self_test(self) -> ProbeResult | None:
        """The INVALID self-test, or ``None`` when probes were skipped."""
        return self._self_test(ProbeKind.INVALID)

    @property
    def unreplied_self_test(self) -> ProbeResult | None:
        """The UNREPLIED self-test, or ``None`` when probes were skipped."""
        return self._self_test(ProbeKind.UNREPLIED)


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def hostport(ip: str, port: int | None) -> str:
    """``ip:port`` (IPv6 in brackets); just ``ip`` without a port."""
    return ip if port is None else _hostport(ip, port)
