"""Table occupancy and hash sizing (ctdiag.assess.capacity), from F10 file contents."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.assess import capacity, remedies
from ctdiag.assess.thresholds import SPEC_BY_NAME, Thresholds
from ctdiag.model.verdict import Level
from ctdiag.parse.sysctl import TableLimits, parse_table_limits
from tests.assess.inputs import STATS

DEFAULTS = Thresholds()
CAPTURED_MAX = (STATS / "nf_conntrack_max.txt").read_text()  # "262144\n", this machine's


def limits(count: int, max_: int | str = CAPTURED_MAX, buckets: int = 262_144) -> TableLimits:
    """Limits as read from the three /proc/sys/net/netfilter files (newline-terminated)."""
    return parse_table_limits(
        count=f"{count}\n", max=f"{max_}".strip() + "\n", buckets=f"{buckets}\n"
    )


def shown_percent(finding: str) -> float:
    return float(re.search(r"table ([\d.]+)% full", finding).group(1))  # type: ignore[union-attr]


def test_captured_limits_pass() -> None:
    real = parse_table_limits(
        count=(STATS / "nf_conntrack_count.txt").read_text(),
        max=CAPTURED_MAX,
        buckets=(STATS / "nf_conntrack_buckets.txt").read_text(),
    )
    verdict = capacity.occupancy(real, DEFAULTS)
    assert verdict.level is Level.PASS
    assert "4 of 262,144 entries" in verdict.finding
    assert verdict.remedy is None
    assert capacity.hash_buckets(real, DEFAULTS).level is Level.PASS


@pytest.mark.parametrize(
    ("count", "max_", "level"),
    [
        (749_999, 1_000_000, Level.PASS),
        (750_000, 1_000_000, Level.WARN),  # exactly 0.75: inclusive
        (750_001, 1_000_000, Level.WARN),
        (899_999, 1_000_000, Level.WARN),
        (900_000, 1_000_000, Level.FAIL),  # exactly 0.90: inclusive
        (900_001, 1_000_000, Level.FAIL),
        (196_607, 262_144, Level.PASS),
        (196_608, 262_144, Level.WARN),  # 0.75 of the default 262,144
        (235_929, 262_144, Level.WARN),  # 0.8999977
        (235_930, 262_144, Level.FAIL),
        (262_144, 262_144, Level.FAIL),
        (262_145, 262_144, Level.FAIL),  # nf_conntrack_count may briefly read max + 1
        (0, 262_144, Level.PASS),
    ],
)
def test_occupancy_levels_at_the_boundaries(count: int, max_: int, level: Level) -> None:
    verdict = capacity.occupancy(limits(count, max_), DEFAULTS)
    assert verdict.level is level
    assert f"{count:,} of {max_:,} entries" in verdict.finding
    assert dict(verdict.figures)["occupancy"] == count / max_


def test_occupancy_message_names_threshold_source_and_remedy() -> None:
    verdict = capacity.occupancy(limits(241_593), DEFAULTS)
    assert verdict.finding == (
        "conntrack table 92.2% full: 241,593 of 262,144 entries "
        "(nf_conntrack_count / nf_conntrack_max)"
    )
    assert verdict.threshold == "warn at >= 0.75, fail at >= 0.9"
    assert verdict.source == SPEC_BY_NAME["occupancy_fail"].source
    assert verdict.remedy is remedies.RAISE_MAX
    text = verdict.message()
    assert text.startswith("FAIL: conntrack table 92.2% full")
    assert "threshold: warn at >= 0.75, fail at >= 0.9; source: ctdiag default; Netdata" in text
    assert f"remedy: {remedies.RAISE_MAX.action}" in text
    assert f"trade-off: {remedies.RAISE_MAX.trade_off}" in text

    warn = capacity.occupancy(limits(196_608), DEFAULTS)
    assert warn.source == SPEC_BY_NAME["occupancy_warn"].source
    assert "NodeHighNumberConntrackEntriesUsed" in warn.source
    assert warn.remedy is remedies.RAISE_MAX

    passed = capacity.occupancy(limits(196_607), DEFAULTS)
    assert passed.remedy is None
    assert SPEC_BY_NAME["occupancy_warn"].source in passed.source
    assert SPEC_BY_NAME["occupancy_fail"].source in passed.source


def test_occupancy_threshold_set_for_this_run() -> None:
    thresholds = Thresholds(occupancy_warn=0.5, occupancy_fail=0.8)
    verdict = capacity.occupancy(limits(800_000, 1_000_000), thresholds)
    assert verdict.level is Level.FAIL
    assert verdict.threshold == "warn at >= 0.5, fail at >= 0.8"
    assert verdict.source.startswith("set for this run (default 0.9: ")
    warn = capacity.occupancy(limits(500_000, 1_000_000), thresholds)
    assert warn.level is Level.WARN
    assert warn.source.startswith("set for this run (default 0.75: ")
    # A threshold left at its default keeps its own source.
    only_fail = Thresholds(occupancy_fail=0.95)
    assert capacity.occupancy(limits(800_000, 1_000_000), only_fail).source == (
        SPEC_BY_NAME["occupancy_warn"].source
    )


@pytest.mark.parametrize(
    ("count", "max_", "shown"),
    [
        (235_929, 262_144, 89.9998),  # 0.8999977, WARN: must not read "90.0% full"
        (235_930, 262_144, 90.0002),  # 0.9000015, FAIL
        (196_607, 262_144, 74.9996),  # PASS: must not read "75.0% full"
        (749_999, 1_000_000, 74.9999),
        (750_000, 1_000_000, 75.0),  # exactly at the limit: one decimal is enough
        (900_000, 1_000_000, 90.0),
        (921_000, 1_000_000, 92.1),
    ],
)
def test_occupancy_figure_is_not_rounded_onto_a_threshold(
    count: int, max_: int, shown: float
) -> None:
    verdict = capacity.occupancy(limits(count, max_), DEFAULTS)
    assert shown_percent(verdict.finding) == shown


@given(
    max_=st.integers(1, 8_000_000),
    a=st.integers(0, 9_000_000),
    b=st.integers(0, 9_000_000),
)
def test_occupancy_level_is_monotonic_in_the_count(max_: int, a: int, b: int) -> None:
    low, high = sorted((a, b))
    low_level = capacity.occupancy(limits(low, max_), DEFAULTS).level
    high_level = capacity.occupancy(limits(high, max_), DEFAULTS).level
    assert low_level <= high_level
    expected = (
        Level.FAIL if high / max_ >= 0.9 else Level.WARN if high / max_ >= 0.75 else Level.PASS
    )
    assert high_level is expected


@given(count=st.integers(0, 2_000_000), max_=st.integers(1, 2_000_000))
def test_occupancy_figure_agrees_with_the_level(count: int, max_: int) -> None:
    verdict = capacity.occupancy(limits(count, max_), DEFAULTS)
    shown = shown_percent(verdict.finding)
    assert (shown >= 90.0) == (verdict.level is Level.FAIL)
    assert (shown >= 75.0) == (verdict.level is not Level.PASS)


@pytest.mark.parametrize(
    ("max_", "buckets", "level"),
    [
        (1_048_576, 131_072, Level.PASS),  # OpenShift tuned: ratio exactly 8
        (1_048_577, 131_072, Level.FAIL),  # 8.0000076
        (801, 100, Level.FAIL),  # 8.01
        (800, 100, Level.PASS),
        (262_144, 262_144, Level.PASS),  # kernel >= 5.15 default, ratio 1
        (2_097_152, 65_536, Level.FAIL),  # ratio 32
    ],
)
def test_hash_buckets_levels(max_: int, buckets: int, level: Level) -> None:
    verdict = capacity.hash_buckets(limits(0, max_, buckets), DEFAULTS)
    assert verdict.level is level
    assert f"= {max_:,} / {buckets:,} = " in verdict.finding
    assert verdict.threshold == "fail above 8"
    assert verdict.source == SPEC_BY_NAME["max_per_bucket"].source
    assert (verdict.remedy is remedies.FIX_BUCKETS) == (level is Level.FAIL)
    assert dict(verdict.figures)["max_per_bucket"] == max_ / buckets


def test_hash_buckets_message() -> None:
    verdict = capacity.hash_buckets(limits(0, 2_097_152, 65_536), DEFAULTS)
    assert "= 2,097,152 / 65,536 = 32.00 (a full table averages about 64.0 entries per chain" in (
        verdict.finding
    )
    assert "chaintoolong" in verdict.finding
    assert "OpenShift tuned 1,048,576 / 131,072" in verdict.source
    exact = capacity.hash_buckets(limits(0, 1_048_576, 131_072), DEFAULTS)
    assert "= 8.00 (" in exact.finding and exact.remedy is None
    # Just above 8 fails, so the ratio must not read "8.00".
    above = capacity.hash_buckets(limits(0, 1_048_577, 131_072), DEFAULTS)
    assert "= 8.00 (" not in above.finding
    assert float(re.search(r"= ([\d.]+) \(", above.finding).group(1)) > 8  # type: ignore[union-attr]
    assert "= 8.01 (" in capacity.hash_buckets(limits(0, 801, 100), DEFAULTS).finding


def test_hash_buckets_threshold_set_for_this_run() -> None:
    verdict = capacity.hash_buckets(limits(0, 1_048_576, 131_072), Thresholds(max_per_bucket=4))
    assert verdict.level is Level.FAIL
    assert verdict.threshold == "fail above 4"
    assert verdict.source.startswith("set for this run (default 8: kernel sizing")


@given(max_=st.integers(1, 1 << 32), buckets=st.integers(1, 1 << 28))
def test_hash_buckets_fail_exactly_when_max_exceeds_eight_buckets(max_: int, buckets: int) -> None:
    verdict = capacity.hash_buckets(limits(0, max_, buckets), DEFAULTS)
    assert (verdict.level is Level.FAIL) == (max_ > 8 * buckets)
