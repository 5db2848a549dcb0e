"""Aggregations over a conntrack table: what the checks and the report need, computed once.

Pure functions of a :class:`~ctdiag.model.table.ConntrackTable`; vectorised over its columns so a
million entries summarise in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ctdiag.analyze.grouping import group_rows, largest
from ctdiag.model.entries import HALF_OPEN_STATES, PORT_PROTOCOLS, PROTOCOL_NAMES
from ctdiag.model.table import ConntrackTable, FlagBit, Present

DEFAULT_TOP = 10
DEFAULT_DNAT_GROUPS = 100
#: protonum (uint8) -> has ports: a lookup is several times faster than np.isin on 1M rows.
_HAS_PORTS = np.zeros(256, dtype=bool)
_HAS_PORTS[sorted(PORT_PROTOCOLS)] = True


@dataclass(frozen=True, slots=True)
class Count:
    """One item of a ranking: a key (address, ``ip:port/proto``...) and how many entries."""

    key: str
    count: int


@dataclass(frozen=True, slots=True)
class DnatGroup:
    """DNAT'd entries sharing original destination and reply source (Service -> endpoint)."""

    protocol: str
    orig_dst: str
    orig_dport: int | None
    reply_src: str
    reply_sport: int | None
    zone: int
    count: int
    unreplied: int

    @property
    def service(self) -> str:
        return _endpoint(self.orig_dst, self.orig_dport, self.protocol)

    @property
    def endpoint(self) -> str:
        return _endpoint(self.reply_src, self.reply_sport, self.protocol)


@dataclass(frozen=True, slots=True)
class TableSummary:
    """The table at a glance. Rankings are sorted by count, then key; ties never reorder."""

    entries: int
    malformed: int
    by_state: dict[str, int]
    by_protocol: dict[str, int]
    by_family: dict[str, int]
    by_zone: dict[int, int]
    assured: int
    unreplied: int
    half_open: int
    dnat: int
    snat: int
    top_sources: tuple[Count, ...]
    top_destinations: tuple[Count, ...]
    top_unreplied_destinations: tuple[Count, ...]
    dnat_groups: tuple[DnatGroup, ...]
    """The largest groups only (see ``dnat_group_count``)."""
    dnat_group_count: int

    def share(self, count: int) -> float:
        """``count`` as a fraction of all entries (0.0 for an empty table)."""
        return count / self.entries if self.entries else 0.0

    def to_json(self) -> dict[str, Any]:
        def ranking(items: tuple[Count, ...]) -> list[dict[str, Any]]:
            return [{"key": c.key, "count": c.count} for c in items]

        return {
            "entries": self.entries,
            "malformed": self.malformed,
            "by_state": self.by_state,
            "by_protocol": self.by_protocol,
            "by_family": self.by_family,
            "by_zone": {str(z): n for z, n in self.by_zone.items()},
            "assured": self.assured,
            "unreplied": self.unreplied,
            "half_open": self.half_open,
            "dnat": self.dnat,
            "snat": self.snat,
            "top_sources": ranking(self.top_sources),
            "top_destinations": ranking(self.top_destinations),
            "top_unreplied_destinations": ranking(self.top_unreplied_destinations),
            "dnat_group_count": self.dnat_group_count,
            "dnat_groups": [
                {
                    "protocol": g.protocol,
                    "orig_dst": g.orig_dst,
                    "orig_dport": g.orig_dport,
                    "reply_src": g.reply_src,
                    "reply_sport": g.reply_sport,
                    "zone": g.zone,
                    "count": g.count,
                    "unreplied": g.unreplied,
                }
                for g in self.dnat_groups
            ],
        }


def _endpoint(address: str, port: int | None, protocol: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}/{protocol}" if port is not None else f"{address}/{protocol}"


def nat_masks(table: ConntrackTable) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays (dnat, snat) per row, by the tuple-comparison rule of formats doc §14.

    Ports are compared only for port protocols: an ICMP reply changes its type (8 -> 0) without
    any NAT involved.
    """
    c = table.columns
    present = c["present"]
    with_ports = _HAS_PORTS[c["protonum"]] & (
        (present & (Present.L4_ORIG | Present.L4_REPLY)) == (Present.L4_ORIG | Present.L4_REPLY)
    )
    orig_l4, reply_l4 = c["orig_l4"], c["reply_l4"]
    dnat = (c["reply_src"] != c["orig_dst"]) | (with_ports & (reply_l4[:, 0] != orig_l4[:, 1]))
    snat = (c["reply_dst"] != c["orig_src"]) | (with_ports & (reply_l4[:, 1] != orig_l4[:, 0]))
    return dnat, snat


def _ranking(table: ConntrackTable, codes: np.ndarray, top: int) -> tuple[Count, ...]:
    if not len(codes):
        return ()
    counts = np.bincount(codes)
    nonzero = np.flatnonzero(counts)
    chosen = nonzero[largest(counts[nonzero], nonzero, top)]
    addresses = table.dictionaries["addresses"]
    items = [Count(addresses[k], int(counts[k])) for k in chosen.tolist()]
    return tuple(sorted(items, key=lambda i: (-i.count, i.key)))


def _histogram(names: list[str], codes: np.ndarray) -> dict[str, int]:
    counts = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), int)
    pairs = [(names[k], int(n)) for k, n in enumerate(counts) if n]
    return dict(sorted(pairs, key=lambda p: (-p[1], p[0])))


def _port_columns(table: ConntrackTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(orig dport, reply sport) of ``rows`` as int64, -1 for protocols without ports."""
    c = table.columns
    has_port = _HAS_PORTS[c["protonum"][rows]]
    dport = np.where(has_port, c["orig_l4"][rows, 1].astype(np.int64), -1)
    sport = np.where(has_port, c["reply_l4"][rows, 0].astype(np.int64), -1)
    return dport, sport


def _unreplied_destinations(table: ConntrackTable, mask: np.ndarray, top: int) -> tuple[Count, ...]:
    c = table.columns
    rows = np.flatnonzero(mask)
    if not len(rows):
        return ()
    dport, _ = _port_columns(table, rows)
    protonum, dst = c["protonum"][rows], c["orig_dst"][rows]
    counts, first, _ = group_rows([dst, dport + 1, protonum], np.zeros(len(rows), dtype=bool))
    addresses = table.dictionaries["addresses"]
    items = []
    for g in largest(counts, first, top).tolist():
        k = int(first[g])
        port = int(dport[k])
        proto = PROTOCOL_NAMES.get(int(protonum[k]), str(int(protonum[k])))
        address = addresses[int(dst[k])]
        items.append(Count(_endpoint(address, port if port >= 0 else None, proto), int(counts[g])))
    return tuple(sorted(items, key=lambda i: (-i.count, i.key)))


def dnat_groups(
    table: ConntrackTable, dnat: np.ndarray | None = None, *, limit: int | None = None
) -> tuple[DnatGroup, ...]:
    """DNAT'd rows grouped by protocol, zone, original destination and reply source.

    Args:
        table: the table.
        dnat: the DNAT mask of :func:`nat_masks`, when the caller has it already.
        limit: keep only the largest groups (equal sizes: first seen first); all when None.

    Returns:
        Groups, largest first, then by Service and endpoint text.
    """
    if dnat is None:
        dnat, _ = nat_masks(table)
    return _dnat_groups(table, dnat, limit)[0]


def _dnat_groups(
    table: ConntrackTable, dnat: np.ndarray, limit: int | None
) -> tuple[tuple[DnatGroup, ...], int]:
    """The (largest) DNAT groups and how many groups there are in all."""
    c = table.columns
    rows = np.flatnonzero(dnat)
    if not len(rows):
        return (), 0
    dport, sport = _port_columns(table, rows)
    protonum, zone = c["protonum"][rows], c["zone"][rows]
    dst, src = c["orig_dst"][rows], c["reply_src"][rows]
    unreplied_rows = (c["flags"][rows] & FlagBit.UNREPLIED) != 0
    counts, first, unreplied = group_rows(
        [protonum, zone, dst, dport + 1, src, sport + 1], unreplied_rows
    )
    addresses = table.dictionaries["addresses"]
    groups = []
    for g in largest(counts, first, limit).tolist():
        k = int(first[g])
        number = int(protonum[k])
        groups.append(
            DnatGroup(
                protocol=PROTOCOL_NAMES.get(number, str(number)),
                orig_dst=addresses[int(dst[k])],
                orig_dport=int(dport[k]) if dport[k] >= 0 else None,
                reply_src=addresses[int(src[k])],
                reply_sport=int(sport[k]) if sport[k] >= 0 else None,
                zone=int(zone[k]),
                count=int(counts[g]),
                unreplied=int(unreplied[g]),
            )
        )
    groups.sort(key=lambda g: (-g.count, g.service, g.endpoint, g.zone))
    return tuple(groups), len(counts)


def summarize(
    table: ConntrackTable, *, top: int = DEFAULT_TOP, dnat_group_limit: int = DEFAULT_DNAT_GROUPS
) -> TableSummary:
    """Every aggregation the checks and the report use, in one pass over the columns.

    Args:
        table: the table.
        top: length of the rankings (sources, destinations, UNREPLIED destinations).
        dnat_group_limit: how many of the largest DNAT groups to keep; :func:`dnat_groups`
            gives all of them (a Service check asks for its own).
    """
    c = table.columns
    present = c["present"]
    flags = c["flags"]
    has_state = (present & Present.STATE) != 0
    states = table.dictionaries["states"]
    # TCP states keep their bare names (what people grep for); other protocols' states are
    # prefixed so that SCTP "ESTABLISHED" is not counted as TCP's.
    is_tcp = c["protonum"] == 6
    by_state = _histogram(states, c["state"][has_state & is_tcp]) if states else {}
    for proto_num in np.unique(c["protonum"][has_state & ~is_tcp]).tolist():
        proto = PROTOCOL_NAMES.get(proto_num, str(proto_num))
        rows = has_state & (c["protonum"] == proto_num)
        by_state.update(
            {f"{proto}:{k}": n for k, n in _histogram(states, c["state"][rows]).items()}
        )
    half_open_codes = [k for k, s in enumerate(states) if s in HALF_OPEN_STATES]
    protos = c["protonum"]
    by_protocol_raw = np.bincount(protos, minlength=256) if len(protos) else np.zeros(256, int)
    by_protocol: dict[str, int] = {}
    for num in np.flatnonzero(by_protocol_raw).tolist():
        name = PROTOCOL_NAMES.get(num, f"unknown({num})")
        by_protocol[name] = by_protocol.get(name, 0) + int(by_protocol_raw[num])
    by_protocol = dict(sorted(by_protocol.items(), key=lambda p: (-p[1], p[0])))
    families = c["family"]
    by_family = {
        name: int(np.count_nonzero(families == number))
        for name, number in (("ipv4", 4), ("ipv6", 6))
        if np.any(families == number)
    }
    zone_all = np.bincount(c["zone"]) if len(table) else np.zeros(0, np.int64)
    zones = np.flatnonzero(zone_all)
    zone_counts = zone_all[zones]
    unreplied_mask = (flags & FlagBit.UNREPLIED) != 0
    dnat, snat = nat_masks(table)
    groups, group_count = _dnat_groups(table, dnat, dnat_group_limit)
    return TableSummary(
        entries=len(table),
        malformed=len(table.diagnostics.malformed),
        by_state=by_state,
        by_protocol=by_protocol,
        by_family=by_family,
        by_zone={int(z): int(n) for z, n in zip(zones, zone_counts, strict=True)},
        assured=int(np.count_nonzero(flags & FlagBit.ASSURED)),
        unreplied=int(np.count_nonzero(unreplied_mask)),
        half_open=int(np.count_nonzero(has_state & np.isin(c["state"], half_open_codes)))
        if half_open_codes
        else 0,
        dnat=int(np.count_nonzero(dnat)),
        snat=int(np.count_nonzero(snat)),
        top_sources=_ranking(table, c["orig_src"], top),
        top_destinations=_ranking(table, c["orig_dst"], top),
        top_unreplied_destinations=_unreplied_destinations(table, unreplied_mask, top),
        dnat_groups=groups,
        dnat_group_count=group_count,
    )
