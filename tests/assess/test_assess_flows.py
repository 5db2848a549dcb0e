"""UNREPLIED and half-open flows, top talkers (ctdiag.assess.flows), from parsed listings."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctdiag.assess import flows, remedies
from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.verdict import Level, Verdict
from tests.assess.inputs import (
    CAPTURES,
    CLIENT,
    ESTABLISHED,
    SYN_RECV,
    SYN_SENT,
    UDP_UNREPLIED,
    copies,
    listing,
    parsed,
)

DEFAULTS = Thresholds()
UNREPLIED_SOURCE = "ctdiag default (ctdiag/checks/README.md#flows)"
HALF_OPEN_SOURCE = "ctdiag default (SYN floods, blackholed backends); ctdiag default"


def unreplied_table(unreplied: int, replied: int) -> str:
    """UDP to a silent port (``[UNREPLIED]``), among established TCP flows."""
    return listing(copies(UDP_UNREPLIED, unreplied), copies(ESTABLISHED, replied, first_port=40000))


def half_open_table(syn_sent: int, syn_recv: int, established: int) -> str:
    return listing(
        copies(SYN_SENT, syn_sent),
        copies(SYN_RECV, syn_recv, first_port=30000),
        copies(ESTABLISHED, established, first_port=40000),
    )


def assert_entry_evidence(
    verdict: Verdict, text: str, needle: str, total: int, limit: int = 20
) -> None:
    """Evidence: the first ``limit`` offending entries, verbatim as listed, and their count."""
    listed = text.splitlines()
    assert len(verdict.evidence) == min(limit, total)
    assert verdict.evidence_total == total
    for line in verdict.evidence:
        assert line in listed  # -o extended input renders back to the very same line
        assert needle in line
    assert list(verdict.evidence) == [line for line in listed if needle in line][:limit]


# --- UNREPLIED -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unreplied", "replied", "level", "how"),
    [
        (1_001, 4_000, Level.FAIL, "both exceeded"),  # 1,001 > 1,000 and 0.2002 > 0.2
        (1_001, 4_004, Level.WARN, "count exceeded, share not"),  # share exactly 0.2
        (1_000, 3_000, Level.PASS, "share exceeded, count not"),  # count exactly 1,000
        (2_000, 18_000, Level.WARN, "count exceeded, share not"),  # count alone warns
        (10, 5, Level.PASS, "share exceeded, count not"),  # share alone never fails
        (3, 4_000, Level.PASS, "within limits"),
    ],
)
def test_unreplied_needs_both_share_and_count_to_fail(
    unreplied: int, replied: int, level: Level, how: str
) -> None:
    text = unreplied_table(unreplied, replied)
    table, summary = parsed(text)
    verdict = flows.unreplied(summary, table, DEFAULTS)
    total = unreplied + replied
    assert verdict.level is level
    assert verdict.finding.startswith(
        f"{unreplied:,} of {total:,} entries are [UNREPLIED] ({unreplied / total:.1%}; {how}); "
    )
    assert f"top destinations: 10.123.2.2:7777/udp ({unreplied:,})" in verdict.finding
    assert dict(verdict.figures) == {"unreplied": unreplied, "unreplied_share": unreplied / total}
    assert verdict.threshold == (
        "fail when share > 0.2 and count > 1,000; warn when only the count is exceeded"
    )
    assert verdict.source == UNREPLIED_SOURCE
    if level is Level.PASS:
        assert verdict.remedy is None
        assert verdict.evidence == () and verdict.evidence_total == 0
    else:
        assert verdict.remedy is flows.BLACKHOLE
        assert_entry_evidence(verdict, text, "[UNREPLIED]", unreplied)


def test_unreplied_message_and_evidence_cap() -> None:
    text = unreplied_table(1_500, 500)
    table, summary = parsed(text)
    verdict = flows.unreplied(summary, table, Thresholds(evidence_limit=3))
    assert_entry_evidence(verdict, text, "[UNREPLIED]", 1_500, limit=3)
    message = verdict.message().splitlines()
    assert message[0] == (
        "FAIL: 1,500 of 2,000 entries are [UNREPLIED] (75.0%; both exceeded); "
        "top destinations: 10.123.2.2:7777/udp (1,500); "
        "threshold: fail when share > 0.2 and count > 1,000; warn when only the count is "
        f"exceeded; source: {UNREPLIED_SOURCE}"
    )
    assert message[1] == f"remedy: {flows.BLACKHOLE.action}"
    assert message[2] == f"trade-off: {flows.BLACKHOLE.trade_off}"
    assert message[3] == "evidence (first 3 of 1500):"
    assert message[4] == (
        "  ipv4     2 udp      17 24 src=10.123.1.2 dst=10.123.2.2 sport=10000 dport=7777 "
        "packets=2 bytes=90 [UNREPLIED] src=10.123.2.2 dst=10.123.1.2 sport=7777 dport=10000 "
        "packets=0 bytes=0 mark=0 delta-time=6 use=1"
    )


def test_unreplied_thresholds_set_for_this_run() -> None:
    text = unreplied_table(60, 140)
    table, summary = parsed(text)
    thresholds = Thresholds(unreplied_count=50)
    verdict = flows.unreplied(summary, table, thresholds)
    assert verdict.level is Level.FAIL
    assert verdict.threshold.startswith("fail when share > 0.2 and count > 50;")
    # The count decided the level: its source must say it was set for this run.
    assert verdict.source == (
        f"{UNREPLIED_SOURCE}; set for this run (default 1000: {UNREPLIED_SOURCE})"
    )
    share_only = flows.unreplied(summary, table, Thresholds(unreplied_share=0.5))
    assert share_only.level is Level.PASS
    assert share_only.source == (
        f"set for this run (default 0.2: {UNREPLIED_SOURCE}); {UNREPLIED_SOURCE}"
    )


def test_unreplied_on_the_captured_listing() -> None:
    text = (CAPTURES / "conntrack_L_extended.stdout").read_text()
    table, summary = parsed(text)
    verdict = flows.unreplied(summary, table, DEFAULTS)
    # 4 of 25 entries (UDP to the silent port and SYNs to the blackhole, v4 and v6).
    assert verdict.level is Level.PASS
    assert verdict.finding.startswith("4 of 25 entries are [UNREPLIED] (16.0%; within limits)")
    lowered = flows.unreplied(summary, table, Thresholds(unreplied_share=0.1, unreplied_count=2))
    assert lowered.level is Level.FAIL
    assert sorted(lowered.evidence) == sorted(
        line for line in text.splitlines() if "[UNREPLIED]" in line
    )


# --- half-open -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("syn_sent", "syn_recv", "established", "level", "how"),
    [
        (400, 101, 2_003, Level.FAIL, "both exceeded"),  # 501 > 500 and 0.20008 > 0.2
        (400, 101, 2_004, Level.WARN, "count exceeded, share not"),  # share exactly 0.2
        (500, 0, 1_000, Level.PASS, "share exceeded, count not"),  # count exactly 500
        (0, 600, 5_000, Level.WARN, "count exceeded, share not"),
        (1, 1, 50, Level.PASS, "within limits"),
    ],
)
def test_half_open_needs_both_share_and_count_to_fail(
    syn_sent: int, syn_recv: int, established: int, level: Level, how: str
) -> None:
    text = half_open_table(syn_sent, syn_recv, established)
    table, summary = parsed(text)
    verdict = flows.half_open(summary, table, DEFAULTS)
    count, total = syn_sent + syn_recv, syn_sent + syn_recv + established
    assert verdict.level is level
    states = ", ".join(
        f"{name} {n:,}"
        for name, n in sorted(
            (("SYN_SENT", syn_sent), ("SYN_RECV", syn_recv)), key=lambda p: (-p[1], p[0])
        )
        if n
    )
    assert verdict.finding == (
        f"{count:,} of {total:,} entries are half-open ({count / total:.1%}; {states}; {how})"
    )
    assert verdict.threshold == (
        "fail when share > 0.2 and count > 500; warn when only the count is exceeded"
    )
    assert verdict.source == HALF_OPEN_SOURCE
    assert dict(verdict.figures) == {"half_open": count, "half_open_share": count / total}
    if level is Level.PASS:
        assert verdict.remedy is None and verdict.evidence == ()
    else:
        assert verdict.remedy is flows.SYN_FLOOD
        assert verdict.evidence_total == count
        listed = text.splitlines()
        assert len(verdict.evidence) == 20
        assert all(line in listed for line in verdict.evidence)
        assert all(re.search(r" (SYN_SENT|SYN_RECV) ", line) for line in verdict.evidence)


def test_half_open_evidence_is_syn_sent_and_syn_recv_only() -> None:
    text = listing(
        copies(ESTABLISHED, 30, first_port=40000),
        copies(SYN_RECV, 2, first_port=30000),
        copies(UDP_UNREPLIED, 50),  # UNREPLIED but not half-open
        copies(SYN_SENT, 3, first_port=20000),
    )
    table, summary = parsed(text)
    verdict = flows.half_open(summary, table, Thresholds(half_open_count=4, half_open_share=0.05))
    assert verdict.level is Level.FAIL
    assert (
        verdict.finding
        == "5 of 85 entries are half-open (5.9%; SYN_SENT 3, SYN_RECV 2; both exceeded)"
    )
    expected = [line for line in text.splitlines() if " SYN_" in line]
    assert list(verdict.evidence) == expected
    assert verdict.source == (
        "set for this run (default 0.2: ctdiag default (SYN floods, blackholed backends)); "
        "set for this run (default 500: ctdiag default)"
    )


def test_half_open_on_the_captured_listing() -> None:
    text = (CAPTURES / "conntrack_L_extended.stdout").read_text()
    table, summary = parsed(text)
    verdict = flows.half_open(summary, table, DEFAULTS)
    assert verdict.level is Level.PASS
    assert verdict.finding == "2 of 25 entries are half-open (8.0%; SYN_SENT 2; within limits)"


# --- top talkers ---------------------------------------------------------------------------


def talkers_table(counts: dict[str, int]) -> str:
    """Established flows from each client address (distinct client ports per address)."""
    return listing(*(copies(ESTABLISHED, n, client=address) for address, n in counts.items()))


@pytest.mark.parametrize(
    ("counts", "level"),
    [
        ({"10.0.0.7": 501, "10.0.0.8": 499}, Level.FAIL),  # 0.501 of 1,000 entries
        ({"10.0.0.7": 500, "10.0.0.8": 500}, Level.PASS),  # exactly 0.5: not above
        ({"10.0.0.7": 999}, Level.PASS),  # 999 < top_talker_min_entries: not judged
        ({"10.0.0.7": 1_000}, Level.FAIL),  # 1,000 entries are judged
    ],
)
def test_top_talkers_levels(counts: dict[str, int], level: Level) -> None:
    text = talkers_table(counts)
    table, summary = parsed(text)
    verdict = flows.top_talkers(summary, table, DEFAULTS)
    top, n = max(counts.items(), key=lambda item: (item[1], item[0] == "10.0.0.7"))
    total = sum(counts.values())
    assert verdict.level is level
    assert verdict.finding.startswith(
        f"top source {top} holds {n:,} of {total:,} entries ({n / total:.1%})"
    )
    assert (
        verdict.threshold == "fail when one source holds > 0.5 of a table of at least 1,000 entries"
    )
    ranking = tuple(
        f"{address}: {count:,}"
        for address, count in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    )
    assert verdict.evidence[: len(ranking)] == ranking  # the ranking is always reported
    if level is Level.FAIL:
        assert verdict.remedy is remedies.SPREAD_LOAD
        entries = verdict.evidence[len(ranking) :]
        assert len(entries) == 20
        assert all(line in text.splitlines() and f"src={top} " in line for line in entries)
        assert verdict.evidence_total == len(ranking) + n
    else:
        assert verdict.remedy is None
        assert verdict.evidence == ranking and verdict.evidence_total == len(ranking)


def test_top_talkers_small_table_is_not_judged() -> None:
    table, summary = parsed(talkers_table({"10.0.0.7": 999}))
    verdict = flows.top_talkers(summary, table, DEFAULTS)
    assert verdict.finding == (
        "top source 10.0.0.7 holds 999 of 999 entries (100.0%); "
        "not judged below 1,000 entries (top_talker_min_entries)"
    )
    assert verdict.source == (
        "ctdiag default (one client exhausting a shared per-node table); "
        "ctdiag default (one client is normal in a small table)"
    )
    lowered = flows.top_talkers(summary, table, Thresholds(top_talker_min_entries=100))
    assert lowered.level is Level.FAIL
    assert "not judged" not in lowered.finding
    assert "set for this run (default 1000: ctdiag default (one client is normal" in lowered.source


def test_top_talkers_evidence_is_the_top_sources_entries() -> None:
    text = talkers_table({"10.0.0.9": 300, "10.0.0.7": 700, "10.0.0.8": 100})
    table, summary = parsed(text)
    verdict = flows.top_talkers(summary, table, Thresholds(evidence_limit=5))
    assert verdict.level is Level.FAIL
    assert verdict.evidence[:3] == ("10.0.0.7: 700", "10.0.0.9: 300", "10.0.0.8: 100")
    assert (
        list(verdict.evidence[3:])
        == [line for line in text.splitlines() if "src=10.0.0.7 " in line][:5]
    )
    assert verdict.evidence_total == 3 + 700
    figures = dict(verdict.figures)
    assert figures["top_source_share"] == 700 / 1_100
    assert figures["source:10.0.0.7"] == 700 and figures["source:10.0.0.8"] == 100
    assert verdict.message().splitlines()[3] == "evidence (first 8 of 703):"


def test_top_talkers_empty_and_captured_tables() -> None:
    table, summary = parsed("")
    verdict = flows.top_talkers(summary, table, DEFAULTS)
    assert verdict.level is Level.PASS and verdict.finding == "the table is empty"
    text = (CAPTURES / "conntrack_L_extended.stdout").read_text()
    table, summary = parsed(text)
    captured = flows.top_talkers(summary, table, DEFAULTS)
    assert captured.level is Level.PASS
    assert captured.finding.startswith(
        f"top source {CLIENT} holds 15 of 25 entries (60.0%); not judged"
    )


# --- thresholds never make a verdict worse by being raised --------------------------------


MIXED = listing(
    copies(UDP_UNREPLIED, 1_200),
    copies(SYN_SENT, 600, first_port=20000),
    copies(ESTABLISHED, 900, first_port=40000, client="10.0.0.7"),
    copies(SYN_RECV, 100, first_port=30000, client="10.0.0.8"),
)


@settings(max_examples=60, deadline=None)
@given(
    share=st.floats(0, 1),
    more_share=st.floats(0, 1),
    count=st.integers(0, 3_000),
    more_count=st.integers(0, 3_000),
)
def test_levels_do_not_rise_with_the_thresholds(
    share: float, more_share: float, count: int, more_count: int
) -> None:
    table, summary = parsed(MIXED)
    low = Thresholds(
        unreplied_share=share, unreplied_count=count, half_open_share=share, half_open_count=count,
        top_talker_share=share, top_talker_min_entries=count,
    )  # fmt: skip
    high = Thresholds(
        unreplied_share=share + more_share, unreplied_count=count + more_count,
        half_open_share=share + more_share, half_open_count=count + more_count,
        top_talker_share=share + more_share, top_talker_min_entries=count + more_count,
    )  # fmt: skip
    for judge in (flows.unreplied, flows.half_open, flows.top_talkers):
        assert judge(summary, table, high).level <= judge(summary, table, low).level
    unreplied = flows.unreplied(summary, table, low)
    over_count, over_share = count < 1_800, share < 1_800 / 2_800
    assert unreplied.level is (
        Level.FAIL if over_count and over_share else Level.WARN if over_count else Level.PASS
    )
