"""Which Service port each conntrack entry was sent to, and what its translation says.

One vectorised pass (:func:`index_service_flows`) attributes every entry of the table to the
Service port its original tuple was sent to (a Service address and port, or a NodePort) and
classifies it; the verdicts (:mod:`ctdiag.assess.services`) and the report's DNAT table
(:func:`dnat_rows`) then only slice that index per Service port. Each entry lands in exactly
one :class:`FlowClass`, so each problem fails exactly one check.

Entries are judged against *serving* endpoints (ready, or terminating but still serving), as
kube-proxy's conntrack reconciler does: flows of a pod shutting down gracefully are not stale.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ctdiag.analyze.summary import nat_masks
from ctdiag.errors import ParseError
from ctdiag.model.services import ExpectedService, ExpectedServicePort, expected_ports
from ctdiag.model.table import ConntrackTable, FlagBit, Present
from ctdiag.parse.values import normalize_address


class FlowClass(enum.IntEnum):
    """What an entry towards a Service port says about its translation."""

    SERVED = 0
    """DNAT'd to a serving endpoint's address and port: correct (checks guide: services)."""
    STALE = 1
    """DNAT'd to an address that is no serving endpoint (kube-proxy's reconciler rule)."""
    WRONG_PORT = 2
    """DNAT'd to a serving endpoint's address, at a port it does not serve."""
    UNTRANSLATED = 3
    """Reply source is the Service address and port itself: no Service rule matched."""
    CHAIN = 4
    """Untranslated, while another zone holds the DNAT: a link of an OVN-Kubernetes chain."""


_N = len(FlowClass)


@dataclass(frozen=True, slots=True)
class ReplySource:
    """Where translated entries of one Service port went, and how many."""

    address: str
    port: int
    entries: int
    unreplied: int
    serving: bool

    def __str__(self) -> str:
        return hostport(self.address, self.port)


@dataclass(frozen=True, slots=True, eq=False)
class ServiceFlows:
    """Every entry towards an expected Service port, classified; built once per node.

    Attributes:
        table: the table indexed.
        ports: the Service ports, in order; ``position(port_id)`` finds one.
        rows: matched table rows, grouped by (port position, class), in table order within.
        starts: ``rows[starts[g]:starts[g + 1]]`` are the rows of group ``position * 5 + class``.
        counts: entries per (port position, class).
        unreplied: ``[UNREPLIED]`` entries per (port position, class).
        zones: per port, zone -> entries.
        replies: per port, the reply sources of its translated entries, largest first.
    """

    table: ConntrackTable
    ports: tuple[ExpectedServicePort, ...]
    rows: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    unreplied: np.ndarray
    zones: tuple[dict[int, int], ...]
    replies: tuple[tuple[ReplySource, ...], ...]
    positions: dict[str, int] = field(default_factory=dict)
    """Test id -> index in :attr:`ports` (filled by :func:`index_service_flows`)."""

    def position(self, port_id: str) -> int:
        """The index of the port whose test id is ``port_id``; KeyError when unknown."""
        return self.positions[port_id]

    def class_rows(self, position: int, cls: FlowClass) -> np.ndarray:
        g = position * _N + cls
        return self.rows[int(self.starts[g]) : int(self.starts[g + 1])]

    @property
    def translated(self) -> int:
        """Entries DNAT'd towards any expected Service (the Cilium decision's input)."""
        classes = [FlowClass.SERVED, FlowClass.STALE, FlowClass.WRONG_PORT]
        return int(self.counts[:, classes].sum())


def _codes(code_of: dict[str, int], addresses: Iterable[str]) -> list[int]:
    return [code_of[a] for a in addresses if a in code_of]


def _lookup(keys: np.ndarray, table_keys: dict[int, int]) -> np.ndarray:
    """``table_keys[key]`` per element of ``keys``, -1 where absent (one searchsorted)."""
    found = np.full(len(keys), -1, dtype=np.int64)
    if not table_keys or not len(keys):
        return found
    known = np.array(sorted(table_keys), dtype=np.int64)
    values = np.array([table_keys[k] for k in known.tolist()], dtype=np.int64)
    at = np.minimum(np.searchsorted(known, keys), len(known) - 1)
    hit = known[at] == keys
    found[hit] = values[at[hit]]
    return found


def _pairs_in(first: np.ndarray, second: np.ndarray, pairs: set[tuple[int, int]]) -> np.ndarray:
    """Whether each ``(first[i], second[i])`` is in ``pairs``: second values are densified
    first, so the combined key stays small however large the codes are."""
    seconds = {b: k for k, b in enumerate(sorted({b for _, b in pairs}))}
    dense = _lookup(second, seconds)
    wanted = np.array(sorted(a * len(seconds) + seconds[b] for a, b in pairs), dtype=np.int64)
    return (dense >= 0) & np.isin(first * max(len(seconds), 1) + dense, wanted)


def index_service_flows(
    table: ConntrackTable, services: Sequence[ExpectedService], *, node_ips: Sequence[str] = ()
) -> ServiceFlows:
    """Attribute and classify every entry towards the Services' ports, in one pass.

    Args:
        table: the node's table.
        services: the expected Services.
        node_ips: the node's addresses (normal text form). Untranslated entries to a NodePort
            count only on these; translated ones count on any address.

    Returns:
        The index the verdicts and :func:`dnat_rows` read.
    """
    ports = expected_ports(services)
    c, n = table.columns, len(table)
    code_of = {a: k for k, a in enumerate(table.dictionaries["addresses"])}
    proto = c["protonum"].astype(np.int64)
    dport = c["orig_l4"][:, 1].astype(np.int64) if n else np.zeros(0, np.int64)
    has_l4 = (c["present"] & Present.L4_ORIG) != 0
    dst = c["orig_dst"].astype(np.int64)
    by_address: dict[int, int] = {}
    by_node_port: dict[int, int] = {}
    for k, p in enumerate(ports):
        for code in _codes(code_of, p.service.addresses):
            by_address.setdefault((code << 24) | (p.port.port << 8) | p.port.protocol.number, k)
        if p.port.node_port is not None:
            by_node_port.setdefault((p.port.node_port << 8) | p.port.protocol.number, k)
    position = np.where(has_l4, _lookup((dst << 24) | (dport << 8) | proto, by_address), -1)
    dnat, _ = nat_masks(table)
    if by_node_port:
        service_codes = _codes(code_of, (a for s in services for a in s.addresses))
        node_codes = _codes(code_of, node_ips)
        candidate = (position < 0) & has_l4 & ~np.isin(dst, service_codes)
        candidate &= dnat | np.isin(dst, node_codes)
        via_node_port = _lookup((dport << 8) | proto, by_node_port)
        position = np.where(candidate, via_node_port, position)
    rows = np.flatnonzero(position >= 0)
    where = position[rows]
    src = c["reply_src"][rows].astype(np.int64)
    sport = c["reply_l4"][rows, 0].astype(np.int64)
    serving = [(k, e) for k, p in enumerate(ports) for e in p.port.serving_endpoints]
    ep_address = {(k, code_of[e.ip]) for k, e in serving if e.ip in code_of}
    ep_full = {(k, (code_of[e.ip] << 16) | e.port) for k, e in serving if e.ip in code_of}
    at_address = _pairs_in(where, src, ep_address) if ep_address else np.zeros(len(rows), bool)
    at_endpoint = _pairs_in(where, (src << 16) | sport, ep_full) if ep_full else at_address
    translated = dnat[rows]
    zone_orig = (c["present"][rows] & Present.ZONE_ORIG) != 0
    zone = np.where(zone_orig, c["zone_orig"][rows], c["zone"][rows]).astype(np.int64)
    zone_key = (where << 16) | zone
    elsewhere = np.isin(where, where[translated]) & ~np.isin(zone_key, zone_key[translated])
    cls = np.select(
        [translated & at_endpoint, translated & at_address, translated, elsewhere],
        [FlowClass.SERVED, FlowClass.WRONG_PORT, FlowClass.STALE, FlowClass.CHAIN],
        FlowClass.UNTRANSLATED,
    ).astype(np.int64)
    group = where * _N + cls
    order = np.argsort(group, kind="stable")  # rows ascend already: table order per group
    bins = len(ports) * _N
    unreplied = (c["flags"][rows] & FlagBit.UNREPLIED) != 0
    return ServiceFlows(
        table=table,
        ports=ports,
        rows=rows[order],
        starts=np.searchsorted(group[order], np.arange(bins + 1)),
        counts=np.bincount(group, minlength=bins).reshape(len(ports), _N),
        unreplied=np.bincount(group[unreplied], minlength=bins).reshape(len(ports), _N),
        zones=_zones(len(ports), zone_key),
        positions={p.id: k for k, p in enumerate(ports)},
        replies=_replies(
            table,
            len(ports),
            where[translated],
            src[translated],
            sport[translated],
            unreplied[translated],
            cls[translated] == FlowClass.SERVED,
        ),
    )


def _zones(count: int, zone_key: np.ndarray) -> tuple[dict[int, int], ...]:
    zones: list[dict[int, int]] = [{} for _ in range(count)]
    keys, sizes = np.unique(zone_key, return_counts=True)
    for key, size in zip(keys.tolist(), sizes.tolist(), strict=True):
        zones[key >> 16][key & 0xFFFF] = size
    return tuple(zones)


def _replies(
    table: ConntrackTable,
    count: int,
    where: np.ndarray,
    src: np.ndarray,
    sport: np.ndarray,
    unreplied: np.ndarray,
    served: np.ndarray,
) -> tuple[tuple[ReplySource, ...], ...]:
    """Reply sources of translated entries per port: one 1-D unique on a packed key."""
    found: list[list[ReplySource]] = [[] for _ in range(count)]
    if len(where):
        codes, dense = np.unique(src, return_inverse=True)
        key = ((where * len(codes) + dense) << 16) | sport
        _, first, inverse, sizes = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
        silent = np.bincount(inverse, weights=unreplied, minlength=len(sizes))
        addresses = table.dictionaries["addresses"]
        for i, size, quiet in zip(first.tolist(), sizes.tolist(), silent.tolist(), strict=True):
            source = ReplySource(
                addresses[int(src[i])], int(sport[i]), size, int(quiet), bool(served[i])
            )
            found[int(where[i])].append(source)
    return tuple(tuple(sorted(f, key=lambda r: (-r.entries, r.address, r.port))) for f in found)


def hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def service_target(port: ExpectedServicePort) -> str:
    """``10.96.0.10:53/udp (NodePort 30053)``: what the Service port's entries are sent to."""
    p = port.port
    text = ", ".join(hostport(a, p.port) for a in port.service.addresses)
    node_port = f" and NodePort {p.node_port}" if p.node_port is not None else ""
    return f"{text}/{p.protocol.conntrack_name}{node_port}"


@dataclass(frozen=True, slots=True)
class DnatRow:
    """One line of the report's DNAT table; the renderer adds probes."""

    port_id: str
    target: str
    expected: tuple[str, ...]
    """Ready endpoints, ``ip:port``."""
    observed: tuple[ReplySource, ...]
    entries: int
    stale: int
    unreplied: int
    """``[UNREPLIED]`` entries DNAT'd to serving endpoints."""
    untranslated: int
    wrong_port: int
    zones: tuple[int, ...]


def dnat_rows(flows: ServiceFlows) -> tuple[DnatRow, ...]:
    """The DNAT table of one node, one row per Service port, in Service order."""
    return tuple(
        DnatRow(
            port.id,
            service_target(port),
            tuple(str(e) for e in port.port.ready_endpoints),
            flows.replies[k],
            int(flows.counts[k].sum()),
            int(flows.counts[k, FlowClass.STALE]),
            int(flows.unreplied[k, FlowClass.SERVED]),
            int(flows.counts[k, FlowClass.UNTRANSLATED]),
            int(flows.counts[k, FlowClass.WRONG_PORT]),
            tuple(sorted(flows.zones[k])),
        )
        for k, port in enumerate(flows.ports)
    )


_ADDRESS = re.compile(r"\sinet6?\s+([0-9A-Fa-f.:]+)(?:/\d+)?\s")


def node_addresses(ip_addr_text: str) -> tuple[str, ...]:
    """The node's own addresses from ``ip -o addr show`` output, in the table's text form.

    These are the ``node_ips`` of :func:`index_service_flows`: an untranslated entry to a
    NodePort counts only when it was sent to one of them.
    """
    found: dict[str, None] = {}
    for text in _ADDRESS.findall(ip_addr_text):
        try:
            found[normalize_address(text)] = None
        except ParseError:
            continue
    return tuple(found)
