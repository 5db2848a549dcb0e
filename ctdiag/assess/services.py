"""Service DNAT verification: do a node's Service flows reach serving endpoints (issue 6)?

One vectorised pass (:func:`index_service_flows`) attributes every entry of the table to the
Service port its original tuple was sent to (a Service address and port, or a NodePort) and
classifies it; the judgements then only slice that index per Service port. Each entry lands
in exactly one :class:`FlowClass`, so each problem fails exactly one check.

Entries are judged against *serving* endpoints (ready, or terminating but still serving), as
kube-proxy's conntrack reconciler does: flows of a pod shutting down gracefully are not stale.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ctdiag.analysis import nat_masks
from ctdiag.assess.evidence import entry_lines
from ctdiag.services import ExpectedService, ExpectedServicePort, ServiceProtocol, expected_ports
from ctdiag.table import ConntrackTable, FlagBit, Present
from ctdiag.thresholds import ThresholdSpec
from ctdiag.verdict import Level, Remedy, Verdict

#: Thresholds of :func:`unreplied_services_verdict`, declared as ``thresholds.SPECS`` entries
#: would be (not added there: ``Thresholds`` needs a field per spec as well).
SERVICE_UNREPLIED_SPECS = (
    ThresholdSpec(
        "service_unreplied_count",
        5,
        "[UNREPLIED] entries DNAT'd to one endpoint "
        "above which it is blackholed (together with service_unreplied_share)",
        "ctdiag default (domain.md section 3: a blackholed endpoint never answers; "
        "one connect() is one entry, its retransmissions are not)",
        integer=True,
    ),
    ThresholdSpec(
        "service_unreplied_share",
        0.5,
        "share of one endpoint's entries that are "
        "[UNREPLIED] above which it is blackholed (together with "
        "service_unreplied_count)",
        "ctdiag default (domain.md section 3)",
    ),
)
SERVICE_UNREPLIED_COUNT = 5
SERVICE_UNREPLIED_SHARE = 0.5
#: UDP ports whose protocol always answers (DNS), so silence there is a blackhole; on other
#: UDP ports it may be a one-way protocol (statsd, syslog) and only warns.
ANSWERING_UDP_PORTS = frozenset({53})
CILIUM_LINKS = frozenset({"cilium_host", "cilium_net", "cilium_vxlan", "cilium_geneve"})
DNAT_SOURCE = "domain.md section 4 (reply source = a serving endpoint IP:targetPort)"
STALE_SOURCE = (
    "kube-proxy's conntrack reconciler rule (pkg/proxy/conntrack/cleanup.go; domain.md "
    "section 3; kubernetes#59368, #125467, #139628)"
)


class FlowClass(enum.IntEnum):
    """What an entry towards a Service port says about its translation."""

    SERVED = 0
    """DNAT'd to a serving endpoint's address and port: correct (domain.md section 4)."""
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
        return _hostport(self.address, self.port)


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


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _target(port: ExpectedServicePort) -> str:
    """``10.96.0.10:53/udp (NodePort 30053)``: what the Service port's entries are sent to."""
    p = port.port
    text = ", ".join(_hostport(a, p.port) for a in port.service.addresses)
    node_port = f" and NodePort {p.node_port}" if p.node_port is not None else ""
    return f"{text}/{p.protocol.conntrack_name}{node_port}"


def _zones_text(zones: dict[int, int]) -> str:
    listed = ", ".join(f"{z} ({n:,})" for z, n in sorted(zones.items()))
    return f"zone {listed}" if len(zones) == 1 else f"zones {listed}"


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
            f"{e.proto} {_hostport(o.src, o.sport or 0)} -> {_hostport(o.dst, o.dport or 0)} "
            f"DNAT to {_hostport(r.src, r.sport or 0)}, zone {zone}{left}{flag}"
        )
    return tuple(lines)


def _endpoints_text(port: ExpectedServicePort) -> str:
    serving = port.port.serving_endpoints
    return ", ".join(str(e) for e in serving) if serving else "none"


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
    no endpoint are :func:`stale_dnat_verdict`'s, blackholed endpoints
    :func:`unreplied_services_verdict`'s. No entry at all passes, saying it proves nothing.
    """
    k = flows.position(port_id)
    port, counts, zones = flows.ports[k], flows.counts[k], flows.zones[k]
    served, stale, wrong, missing, chain = (int(x) for x in counts)
    target, total = _target(port), int(counts.sum())
    figures = tuple((cls.name.lower(), float(counts[cls])) for cls in FlowClass)
    threshold = "fail on any untranslated entry or any DNAT to a port the endpoint does not serve"
    if total == 0:
        return Verdict(
            Level.PASS,
            f"{port_id}: no entry towards {target} in any zone: no traffic seen on this node, "
            "so its translation is not verified (an empty table does not prove there was no "
            "traffic: conntrack hooks register only once a rule needs them, domain.md section 7)",
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
            f"not serve (serving endpoints: {_endpoints_text(port)})"
        )
    aside = []
    if stale:
        aside.append(f"{stale:,} to addresses that are no serving endpoint (test_stale_dnat)")
    if chain:
        aside.append(f"{chain:,} untranslated links of flows translated in another zone")
    extra = f"; also {', '.join(aside)}" if aside else ""
    held = f"evidence in {_zones_text(zones)}"
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
        f"({listed}; serving: {_endpoints_text(port)}){extra}; {held}",
        threshold,
        DNAT_SOURCE,
        figures=figures,
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
            f"{port_id}: no entry towards {_target(port)} is DNAT'd to "
            f"an address outside its serving endpoints ({_endpoints_text(port)})",
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
        f"{port_id}: {len(rows):,} {port.port.protocol.value} entries towards {_target(port)} "
        f"are DNAT'd to {gone}, no serving endpoint (serving: {_endpoints_text(port)}); the "
        f"longest has {longest:,} s left and {renewal}; {_zones_text(_row_zones(flows, rows))}"
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
        f"{_target(port)} are [UNREPLIED]"
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
    source = SERVICE_UNREPLIED_SPECS[0].source
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


@dataclass(frozen=True, slots=True)
class DnatRow:
    """One line of the report's DNAT table (issue 6 part 4); the renderer adds probes."""

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
            _target(port),
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
            f"nf_conntrack (links {', '.join(cilium)}, no Service DNAT entry; domain.md section 4)"
        )
    if cilium:
        return True, "Cilium without kube-proxy replacement: Service DNAT entries are tracked"
    return True, "Services are translated by netfilter: their DNAT shows in nf_conntrack"
