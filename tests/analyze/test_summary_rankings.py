"""Rankings and DNAT groups of ``summarize`` against a plain-Python oracle.

``summarize`` groups by packed keys, ``bincount`` or one sort, and picks the top N by
partition (fast on hundreds of thousands of distinct addresses); the oracle counts with dicts
over the entries. Both must agree exactly, ties included: equal counts keep the order of
first appearance, then the results are sorted by count and text.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import astuple

from hypothesis import given, settings
from hypothesis import strategies as st

from ctdiag.analyze.summary import _endpoint, dnat_groups, nat_masks, summarize
from ctdiag.model.entries import PORT_PROTOCOLS, PROTOCOL_NAMES, ConntrackEntry, Family, FlowTuple
from ctdiag.model.table import ConntrackTable
from ctdiag.model.table_builder import build_table

POOL = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "172.30.0.10", "fd00::1", "fd00::2"]
PROTOCOLS = [("tcp", 6), ("udp", 17), ("sctp", 132), ("icmp", 1)]


def flow(
    proto: tuple[str, int], a: str, b: str, c: str, d: str, ports: tuple[int, int, int, int],
    zone: int, unreplied: bool,
) -> ConntrackEntry:  # fmt: skip
    name, number = proto
    if number == 1:
        orig = FlowTuple(a, b, type=8, code=0, id=ports[0])
        reply = FlowTuple(c, d, type=0, code=0, id=ports[0])
    else:
        orig = FlowTuple(a, b, sport=ports[0], dport=ports[1])
        reply = FlowTuple(c, d, sport=ports[2], dport=ports[3])
    family = Family.IPV6 if ":" in a else Family.IPV4
    flags = ("UNREPLIED",) if unreplied else ()
    return ConntrackEntry(family, name, number, orig, reply, flags=flags, zone=zone)


flows = st.builds(
    flow,
    st.sampled_from(PROTOCOLS),
    *[st.sampled_from(POOL)] * 4,
    st.tuples(*[st.sampled_from([53, 80, 8080, 40000])] * 4),
    st.sampled_from([0, 0, 7, 64000]),
    st.booleans(),
)


def ranked(counts: Counter[object], first: dict[object, int], top: int | None) -> list[object]:
    """Keys by count, equal counts by first appearance; the first ``top`` of them."""
    keys = sorted(counts, key=lambda k: (-counts[k], first[k]))
    return keys if top is None else keys[:top]


def oracle_ranking(values: list[str], top: int, addresses: list[str]) -> list[tuple[str, int]]:
    """Address rankings: equal counts by dictionary order (first use in any address column)."""
    counts = Counter(values)
    code = {a: i for i, a in enumerate(addresses)}
    first: dict[object, int] = {v: code[v] for v in counts}
    items = [(str(k), counts[k]) for k in ranked(counts, first, top)]  # type: ignore[arg-type]
    return sorted(items, key=lambda i: (-i[1], i[0]))


def port(entry: ConntrackEntry, value: int | None) -> int | None:
    return (value or 0) if entry.protonum in PORT_PROTOCOLS else None


def oracle_unreplied(table: ConntrackTable, top: int) -> list[tuple[str, int]]:
    counts: Counter[object] = Counter()
    first: dict[object, int] = {}
    for i, e in enumerate(table):
        if "UNREPLIED" in e.flags:
            key = (e.orig.dst, port(e, e.orig.dport), e.protonum)
            counts[key] += 1
            first.setdefault(key, i)
    items = []
    for dst, dport, number in ranked(counts, first, top):  # type: ignore[misc]
        text = _endpoint(dst, dport, PROTOCOL_NAMES.get(number, str(number)))
        items.append((text, counts[(dst, dport, number)]))
    return sorted(items, key=lambda i: (-i[1], i[0]))


def oracle_dnat(table: ConntrackTable, limit: int | None) -> tuple[list[tuple[object, ...]], int]:
    dnat, _ = nat_masks(table)
    counts: Counter[object] = Counter()
    unreplied: Counter[object] = Counter()
    first: dict[object, int] = {}
    for i, e in enumerate(table):
        if not dnat[i]:
            continue
        key = (e.protonum, e.zone, e.orig.dst, port(e, e.orig.dport), e.reply.src,
               port(e, e.reply.sport))  # fmt: skip
        counts[key] += 1
        unreplied[key] += "UNREPLIED" in e.flags
        first.setdefault(key, i)
    groups = []
    for key in ranked(counts, first, limit):
        number, zone, dst, dport, src, sport = key  # type: ignore[misc]
        name = PROTOCOL_NAMES.get(number, str(number))
        groups.append((name, dst, dport, src, sport, zone, counts[key], unreplied[key]))
    groups.sort(key=lambda g: (-g[6], _endpoint(g[1], g[2], g[0]), _endpoint(g[3], g[4], g[0]),
                               g[5]))  # fmt: skip
    return groups, len(counts)


def assert_matches_oracle(table: ConntrackTable, top: int) -> None:
    summary = summarize(table, top=top, dnat_group_limit=top)
    entries = list(table)
    sources = [(c.key, c.count) for c in summary.top_sources]
    addresses = table.dictionaries["addresses"]
    assert sources == oracle_ranking([e.orig.src for e in entries], top, addresses)
    destinations = [(c.key, c.count) for c in summary.top_destinations]
    assert destinations == oracle_ranking([e.orig.dst for e in entries], top, addresses)
    unreplied = [(c.key, c.count) for c in summary.top_unreplied_destinations]
    assert unreplied == oracle_unreplied(table, top)
    groups, count = oracle_dnat(table, top)
    assert [astuple(g) for g in summary.dnat_groups] == groups
    assert summary.dnat_group_count == count
    assert [astuple(g) for g in dnat_groups(table)] == oracle_dnat(table, None)[0]
    assert sum(summary.by_zone.values()) == len(table)
    assert summary.by_zone == dict(sorted(Counter(e.zone for e in entries).items()))


@settings(max_examples=300, deadline=None)
@given(st.lists(flows, max_size=60), st.integers(0, 12))
def test_small_tables_with_many_ties(entries: list[ConntrackEntry], top: int) -> None:
    assert_matches_oracle(build_table(entries), top)


def test_high_cardinality_table() -> None:
    """Tens of thousands of distinct addresses, ports and groups: the partition and the
    packed keys on the scale the fast paths are for (most counts tie at 1 or 2)."""
    rng = random.Random(5)
    clients = [f"203.0.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(30000)]
    clients += [f"2001:db8::{rng.randrange(1 << 16):x}:{rng.randrange(1, 1 << 16):x}"
                for _ in range(8000)]  # fmt: skip
    pods = [f"10.128.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(3000)]
    vips = ["198.51.100.1", "198.51.100.2", "172.30.0.10"]
    entries = []
    for _ in range(40000):
        client = rng.choice(clients)
        v6 = ":" in client
        if v6:
            vip, pod = "2001:db8::1", f"fd01::{rng.randrange(1, 3000):x}"
        else:
            vip, pod = rng.choice(vips), rng.choice(pods)
        ports = (rng.randrange(1024, 65536), rng.choice([80, 443, 53]), rng.choice([8080, 8443]), 0)
        entries.append(flow(rng.choice(PROTOCOLS[:3]), client, vip, pod, client,
                            (*ports[:3], ports[0]), rng.choice([0, 3, 64000]),
                            rng.random() < 0.2))  # fmt: skip
    table = build_table(entries)
    assert len(table.dictionaries["addresses"]) > 25000
    for top in (10, 100):
        assert_matches_oracle(table, top)
