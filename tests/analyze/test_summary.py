"""Aggregations over hand-built tables whose every count is known."""

from __future__ import annotations

from ctdiag.analyze.summary import nat_masks, summarize
from ctdiag.model.entries import ConntrackEntry, Family, FlowTuple
from ctdiag.model.table import ConntrackTable
from ctdiag.model.table_builder import build_table

SVC, POD_A, POD_B, CLIENT = "172.30.0.10", "10.128.0.5", "10.128.1.7", "10.129.0.2"


def tcp(
    i: int,
    *,
    state: str = "ESTABLISHED",
    dst: str = SVC,
    backend: str = POD_A,
    unreplied: bool = False,
    zone: int = 0,
    src: str = CLIENT,
) -> ConntrackEntry:
    return ConntrackEntry(
        Family.IPV4,
        "tcp",
        6,
        FlowTuple(src, dst, sport=40000 + i, dport=80),
        FlowTuple(backend, src, sport=8080 if backend != dst else 80, dport=40000 + i),
        timeout=100,
        state=state,
        flags=("UNREPLIED",) if unreplied else ("ASSURED",),
        mark=0,
        zone=zone,
        use=1,
    )


def udp_dns(i: int, *, unreplied: bool) -> ConntrackEntry:
    return ConntrackEntry(
        Family.IPV4,
        "udp",
        17,
        FlowTuple(CLIENT, "172.30.0.53", sport=50000 + i, dport=53),
        FlowTuple(POD_B, CLIENT, sport=5353, dport=50000 + i),
        timeout=30,
        flags=("UNREPLIED",) if unreplied else (),
        mark=0,
        use=1,
    )


def icmp() -> ConntrackEntry:
    return ConntrackEntry(
        Family.IPV4,
        "icmp",
        1,
        FlowTuple(CLIENT, POD_A, type=8, code=0, id=7),
        FlowTuple(POD_A, CLIENT, type=0, code=0, id=7),
        timeout=29,
    )


def v6_sctp() -> ConntrackEntry:
    return ConntrackEntry(
        Family.IPV6,
        "sctp",
        132,
        FlowTuple("fd00::1", "fd00::2", sport=36412, dport=36412),
        FlowTuple("fd00::2", "fd00::1", sport=36412, dport=36412),
        timeout=200,
        state="ESTABLISHED",
        zone=64001,
    )


def sample_table() -> ConntrackTable:
    entries = [tcp(i) for i in range(6)]
    entries += [tcp(10 + i, state="SYN_SENT", backend=POD_B, unreplied=True) for i in range(3)]
    entries += [tcp(20, state="TIME_WAIT", dst=POD_A, backend=POD_A)]  # direct, no NAT
    entries += [udp_dns(i, unreplied=i < 2) for i in range(4)]
    entries += [icmp(), v6_sctp()]
    return build_table(entries)


def test_histograms_count_every_entry_once() -> None:
    s = summarize(sample_table())
    assert s.entries == 16
    assert s.by_state == {"ESTABLISHED": 6, "SYN_SENT": 3, "TIME_WAIT": 1, "sctp:ESTABLISHED": 1}
    assert s.by_protocol == {"tcp": 10, "udp": 4, "icmp": 1, "sctp": 1}
    assert s.by_family == {"ipv4": 15, "ipv6": 1}
    assert s.by_zone == {0: 15, 64001: 1}
    assert (s.assured, s.unreplied, s.half_open) == (7, 5, 3)


def test_nat_rule_compares_ports_only_for_port_protocols() -> None:
    table = sample_table()
    dnat, snat = nat_masks(table)
    # 9 TCP via the Service + 4 DNS; the direct TCP flow, ICMP (type 8 -> 0) and SCTP are not NAT.
    assert dnat.tolist() == [True] * 9 + [False] + [True] * 4 + [False, False]
    assert not snat.any()
    assert [e.dnat for e in table] == dnat.tolist()


def test_rankings_and_unreplied_destinations() -> None:
    s = summarize(sample_table(), top=2)
    assert [(c.key, c.count) for c in s.top_sources] == [(CLIENT, 15), ("fd00::1", 1)]
    assert [(c.key, c.count) for c in s.top_destinations] == [(SVC, 9), ("172.30.0.53", 4)]
    assert [(c.key, c.count) for c in s.top_unreplied_destinations] == [
        (f"{SVC}:80/tcp", 3),
        ("172.30.0.53:53/udp", 2),
    ]


def test_dnat_groups_pair_service_and_endpoint() -> None:
    groups = summarize(sample_table()).dnat_groups
    assert [(g.service, g.endpoint, g.count, g.unreplied) for g in groups] == [
        (f"{SVC}:80/tcp", f"{POD_A}:8080/tcp", 6, 0),
        ("172.30.0.53:53/udp", f"{POD_B}:5353/udp", 4, 2),
        (f"{SVC}:80/tcp", f"{POD_B}:8080/tcp", 3, 3),
    ]


def test_empty_table_summarises_to_zeros() -> None:
    s = summarize(build_table([]))
    assert s.entries == 0 and s.by_state == {} and s.dnat_groups == () and s.top_sources == ()
    assert s.share(0) == 0.0


def test_summary_json_is_plain_data() -> None:
    data = summarize(sample_table()).to_json()
    assert data["by_zone"] == {"0": 15, "64001": 1}
    assert data["dnat_groups"][0]["reply_src"] == POD_A


def test_summary_keeps_the_largest_dnat_groups_and_counts_them_all() -> None:
    s = summarize(sample_table(), dnat_group_limit=1)
    assert s.dnat_group_count == 3
    assert [(g.endpoint, g.count) for g in s.dnat_groups] == [(f"{POD_A}:8080/tcp", 6)]
