"""Aggregations over a conntrack table: what the checks and the report need, computed once.

Pure functions of a :class:`~ctdiag.table.ConntrackTable`; vectorised over its columns so a
million entries summarise in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ctdiag.model import HALF_OPEN_STATES, PORT_PROTOCOLS, PROTOCOL_NAMES
from ctdiag.table import ConntrackTable, FlagBit, Present

DEFAULT_TOP = 10


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
    with_ports = np.isin(c["protonum"], list(PORT_PROTOCOLS)) & (
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
    addresses = table.dictionaries["addresses"]
    # Sort by count descending, then by address text so equal counts have a stable order.
    order = sorted(nonzero.tolist(), key=lambda k: (-int(counts[k]), addresses[k]))[:top]
    return tuple(Count(addresses[k], int(counts[k])) for k in order)


def _histogram(names: list[str], codes: np.ndarray) -> dict[str, int]:
    counts = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), int)
    pairs = [(names[k], int(n)) for k, n in enumerate(counts) if n]
    return dict(sorted(pairs, key=lambda p: (-p[1], p[0])))


def _unreplied_destinations(table: ConntrackTable, mask: np.ndarray, top: int) -> tuple[Count, ...]:
    c = table.columns
    rows = np.flatnonzero(mask)
    if not len(rows):
        return ()
    has_port = np.isin(c["protonum"][rows], list(PORT_PROTOCOLS))
    dport = np.where(has_port, c["orig_l4"][rows, 1].astype(np.int64), -1)
    key = (c["orig_dst"][rows].astype(np.int64) << 25) | ((dport + 1) << 8) | c["protonum"][rows]
    uniq, counts = np.unique(key, return_counts=True)
    addresses = table.dictionaries["addresses"]
    items = []
    for k, n in zip(uniq.tolist(), counts.tolist(), strict=True):
        port = ((k >> 8) & 0x1FFFF) - 1
        proto = PROTOCOL_NAMES.get(k & 0xFF, str(k & 0xFF))
        items.append(Count(_endpoint(addresses[k >> 25], port if port >= 0 else None, proto), n))
    items.sort(key=lambda i: (-i.count, i.key))
    return tuple(items[:top])


def dnat_groups(table: ConntrackTable, dnat: np.ndarray | None = None) -> tuple[DnatGroup, ...]:
    """DNAT'd rows grouped by protocol, zone, original destination and reply source."""
    c = table.columns
    if dnat is None:
        dnat, _ = nat_masks(table)
    rows = np.flatnonzero(dnat)
    if not len(rows):
        return ()
    has_port = np.isin(c["protonum"][rows], list(PORT_PROTOCOLS))
    keys = np.empty(
        len(rows),
        dtype=[
            ("proto", "u1"),
            ("zone", "u2"),
            ("dst", "u4"),
            ("dport", "i4"),
            ("src", "u4"),
            ("sport", "i4"),
        ],
    )
    keys["proto"] = c["protonum"][rows]
    keys["zone"] = c["zone"][rows]
    keys["dst"] = c["orig_dst"][rows]
    keys["dport"] = np.where(has_port, c["orig_l4"][rows, 1], -1)
    keys["src"] = c["reply_src"][rows]
    keys["sport"] = np.where(has_port, c["reply_l4"][rows, 0], -1)
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    unreplied = np.bincount(
        inverse.ravel(), weights=(c["flags"][rows] & FlagBit.UNREPLIED) != 0, minlength=len(uniq)
    )
    addresses = table.dictionaries["addresses"]
    groups = [
        DnatGroup(
            protocol=PROTOCOL_NAMES.get(int(u["proto"]), str(int(u["proto"]))),
            orig_dst=addresses[int(u["dst"])],
            orig_dport=int(u["dport"]) if u["dport"] >= 0 else None,
            reply_src=addresses[int(u["src"])],
            reply_sport=int(u["sport"]) if u["sport"] >= 0 else None,
            zone=int(u["zone"]),
            count=int(n),
            unreplied=int(un),
        )
        for u, n, un in zip(uniq, counts, unreplied, strict=True)
    ]
    groups.sort(key=lambda g: (-g.count, g.service, g.endpoint, g.zone))
    return tuple(groups)


def summarize(table: ConntrackTable, *, top: int = DEFAULT_TOP) -> TableSummary:
    """Every aggregation the checks and the report use, in one pass over the columns."""
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
    zones, zone_counts = np.unique(c["zone"], return_counts=True)
    unreplied_mask = (flags & FlagBit.UNREPLIED) != 0
    dnat, snat = nat_masks(table)
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
        dnat_groups=dnat_groups(table, dnat),
    )
