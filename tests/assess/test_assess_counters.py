"""Drops and INVALID packets (ctdiag.assess.counters), from ``conntrack -S`` and F9 text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.analyze.rates import counter_rates
from ctdiag.assess import counters, remedies
from ctdiag.assess.thresholds import SPEC_BY_NAME, Thresholds
from ctdiag.model.verdict import Level
from ctdiag.parse.stats import parse_stats
from tests.assess.inputs import PROC_HEADER_5_4, STATS, window

DEFAULTS = Thresholds()
ZERO: dict[str, int] = {}
U32 = 1 << 32


def real_stats() -> tuple:
    """The captured readings of this machine (invalid 16 + 4, every drop counter zero)."""
    return (
        parse_stats((STATS / "conntrack-S.txt").read_text()),
        parse_stats((STATS / "proc-net-stat-nf_conntrack.txt").read_text()),
    )


# --- drops -------------------------------------------------------------------------------


def test_captured_counters_pass_without_window() -> None:
    for reading in real_stats():
        verdict = counters.drops(reading, None)
        assert verdict.level is Level.PASS
        assert verdict.finding == (
            "drop counters since boot (or namespace creation): all zero; no sampling window"
        )
        assert verdict.remedy is None and verdict.evidence == () and verdict.evidence_total == 0
        assert dict(verdict.figures) == {
            "drop": 0.0,
            "early_drop": 0.0,
            "insert_failed": 0.0,
            "chaintoolong": 0.0,
        }


def test_captured_counters_pass_with_a_quiet_window() -> None:
    cli, proc = real_stats()
    for reading in (cli, proc):
        verdict = counters.drops(reading, counter_rates(reading, reading, 10.0))
        assert verdict.level is Level.PASS
        assert verdict.finding.endswith("all zero; no growth during the sampling window")


@pytest.mark.parametrize("proc", [False, True])
def test_totals_since_boot_only_warn(proc: bool) -> None:
    rows = [
        {"drop": 3, "early_drop": 7},
        {"drop": 2, "chaintoolong" if not proc else "chainlength": 1},
    ]
    reading, rates = window(rows, rows, 10.0, proc=proc)
    verdict = counters.drops(reading, rates)
    assert verdict.level is Level.WARN
    assert verdict.finding == (
        "drop counters since boot (or namespace creation): drop 5, early_drop 7, chaintoolong 1; "
        "no growth during the sampling window"
    )
    assert verdict.threshold == (
        "warn on non-zero totals since boot, fail on growth during the window"
    )
    assert verdict.source == counters.DROP_SOURCE
    assert verdict.remedy is remedies.RAISE_MAX
    assert verdict.evidence == (
        "drop = 5 since boot",
        "early_drop = 7 since boot",
        "insert_failed = 0 since boot",
        "chaintoolong = 1 since boot",
    )
    assert verdict.evidence_total == 4
    # Without a window the same totals still only warn.
    no_window = counters.drops(reading, None)
    assert no_window.level is Level.WARN
    assert no_window.finding.endswith("; no sampling window")


@pytest.mark.parametrize("proc", [False, True])
def test_growth_during_the_window_fails_naming_each_counter(proc: bool) -> None:
    before = [{"drop": 10, "insert_failed": 1}, {"early_drop": 4}]
    after = [{"drop": 1_010, "insert_failed": 3}, {"early_drop": 4, "drop": 234}]
    reading, rates = window(before, after, 12.5, proc=proc)
    verdict = counters.drops(reading, rates)
    assert verdict.level is Level.FAIL
    assert verdict.finding == (
        "conntrack dropped during the 12.5 s sampling window: drop +1,234, insert_failed +2"
    )
    assert "early_drop" not in verdict.finding  # did not grow
    assert verdict.threshold == "fail on any growth during the window"
    assert verdict.remedy is remedies.RAISE_MAX
    assert dict(verdict.figures) == {"drop_delta": 1234.0, "insert_failed_delta": 2.0}
    assert "drop = 1,244 since boot" in verdict.evidence
    assert "early_drop = 4 since boot" in verdict.evidence
    assert verdict.evidence_total == len(verdict.evidence) == 4
    message = verdict.message()
    assert message.startswith("FAIL: conntrack dropped during the 12.5 s sampling window")
    assert f"source: {counters.DROP_SOURCE}" in message


def test_chaintoolong_growth_fails_in_either_vocabulary() -> None:
    for proc, name in ((False, "chaintoolong"), (True, "chainlength")):
        reading, rates = window([ZERO, ZERO], [ZERO, {name: 9}], 5.0, proc=proc)
        verdict = counters.drops(reading, rates)
        assert verdict.level is Level.FAIL
        assert verdict.finding.endswith("sampling window: chaintoolong +9")


def test_resolved_clashes_are_not_drops() -> None:
    # A DNS-heavy node: thousands of resolved insert races, none lost.
    before = [{"clash_resolve": 4_000}, {"clash_resolve": 3_000}]
    after = [{"clash_resolve": 9_000}, {"clash_resolve": 3_500}]
    reading, rates = window(before, after, 10.0)
    verdict = counters.drops(reading, rates)
    assert verdict.level is Level.PASS
    assert "clash" not in verdict.finding


def test_insert_failed_is_not_hidden_by_resolved_clashes() -> None:
    # Kernels >= 5.10 count resolved clashes in clash_resolve and only the unresolved ones in
    # insert_failed (netfilter "add clash resolution stat counter"): both are real counts, so
    # 3 lost inserts stay 3 however many other clashes were resolved.
    before = [{"insert_failed": 5, "drop": 5, "clash_resolve": 100}, ZERO]
    after = [{"insert_failed": 8, "drop": 8, "clash_resolve": 900}, {"clash_resolve": 50}]
    for proc in (False, True):
        rows_before = [_proc_names(row) if proc else row for row in before]
        rows_after = [_proc_names(row) if proc else row for row in after]
        reading, rates = window(rows_before, rows_after, 10.0, proc=proc)
        verdict = counters.drops(reading, rates)
        assert verdict.level is Level.FAIL
        assert verdict.finding.endswith("sampling window: drop +3, insert_failed +3")
        assert "insert_failed = 8 since boot" in verdict.evidence
        since_boot = counters.drops(reading, None)
        assert since_boot.level is Level.WARN
        assert "insert_failed 8" in since_boot.finding


def _proc_names(row: dict[str, int]) -> dict[str, int]:
    return {"clashres" if name == "clash_resolve" else name: value for name, value in row.items()}


@pytest.mark.parametrize("proc", [False, True])
def test_u32_wrap_on_one_cpu_is_growth(proc: bool) -> None:
    # CPU 0's drop counter wraps (0xfffffffe -> 3, i.e. +5) while CPU 1's stays put: summing
    # the CPUs first would read a huge decrease.
    before = [{"drop": U32 - 2}, {"drop": 7}]
    after = [{"drop": 3}, {"drop": 7}]
    reading, rates = window(before, after, 2.0, proc=proc)
    assert rates.wrapped == ("drop",)
    verdict = counters.drops(reading, rates)
    assert verdict.level is Level.FAIL
    assert verdict.finding == "conntrack dropped during the 2.0 s sampling window: drop +5"


def test_older_kernel_without_chaintoolong() -> None:
    # Kernels before 5.15 print no chain-length column; it is absent, not zero.
    reading, rates = window(
        [{"drop": 1}, ZERO],
        [{"drop": 1}, {"early_drop": 6}],
        10.0,
        proc=True,
        header=PROC_HEADER_5_4,
    )
    verdict = counters.drops(reading, rates)
    assert verdict.level is Level.FAIL
    assert verdict.finding.endswith("early_drop +6")
    assert not any("chaintoolong" in line for line in verdict.evidence)
    assert dict(verdict.figures) == {"early_drop_delta": 6.0}
    quiet = counters.drops(reading, None)
    assert "chaintoolong" not in dict(quiet.figures)


@given(
    before=st.lists(st.integers(0, U32 - 1), min_size=2, max_size=2),
    grown=st.lists(st.integers(0, 1_000_000), min_size=2, max_size=2),
)
def test_any_drop_growth_fails_with_its_total_delta(before: list[int], grown: list[int]) -> None:
    after = [(value + step) % U32 for value, step in zip(before, grown, strict=True)]
    reading, rates = window(
        [{"drop": before[0]}, {"drop": before[1]}], [{"drop": after[0]}, {"drop": after[1]}], 1.0
    )
    verdict = counters.drops(reading, rates)
    total = sum(grown)
    if total:
        assert verdict.level is Level.FAIL
        assert verdict.finding.endswith(f"drop +{total:,}")
    else:
        assert verdict.level is (Level.WARN if any(before) else Level.PASS)


# --- INVALID rate --------------------------------------------------------------------------


def invalid_window(delta: int, seconds: float = 10.0, since_boot: int = 20):
    """Two readings ``seconds`` apart; ``invalid`` grows by ``delta`` over two CPUs."""
    first = since_boot - delta
    assert first >= 0
    before = [{"invalid": first // 2}, {"invalid": first - first // 2}]
    after = [
        {"invalid": first // 2 + delta // 2},
        {"invalid": first - first // 2 + delta - delta // 2},
    ]
    return window(before, after, seconds)


@pytest.mark.parametrize(
    ("delta", "level"),
    [
        (0, Level.PASS),
        (10, Level.PASS),  # exactly 1.0/s: the limits are exclusive ("above")
        (11, Level.WARN),
        (100, Level.WARN),  # exactly 10.0/s
        (101, Level.FAIL),
        (5_000, Level.FAIL),
    ],
)
def test_invalid_rate_levels_at_the_boundaries(delta: int, level: Level) -> None:
    reading, rates = invalid_window(delta, since_boot=10_000)
    verdict = counters.invalid_rate(reading, rates, DEFAULTS)
    assert verdict.level is level
    assert f"({delta:,} in 10.0 s; 10,000 since boot)" in verdict.finding
    assert dict(verdict.figures) == {"invalid_per_second": delta / 10, "invalid_delta": delta}
    assert verdict.threshold == "warn above 1/s, fail above 10/s"
    assert (verdict.remedy is remedies.LOG_INVALID) == (level is not Level.PASS)


def test_invalid_rate_message() -> None:
    reading, rates = invalid_window(101, since_boot=10_000)
    verdict = counters.invalid_rate(reading, rates, DEFAULTS)
    assert verdict.finding == "INVALID packets: 10.1/s (101 in 10.0 s; 10,000 since boot)"
    assert verdict.source == SPEC_BY_NAME["invalid_rate_fail"].source
    text = verdict.message()
    assert text.splitlines()[0] == (
        "FAIL: INVALID packets: 10.1/s (101 in 10.0 s; 10,000 since boot); "
        "threshold: warn above 1/s, fail above 10/s; "
        "source: ctdiag default (ctdiag/checks/README.md#invalid)"
    )
    assert f"remedy: {remedies.LOG_INVALID.action}" in text
    assert f"trade-off: {remedies.LOG_INVALID.trade_off}" in text


def test_invalid_rate_on_the_captured_readings() -> None:
    # The capture's 20 INVALID packets (5 SYN+FIN, each counted twice, plus the RSTs), read
    # twice with nothing in between.
    for reading in real_stats():
        verdict = counters.invalid_rate(reading, counter_rates(reading, reading, 5.0), DEFAULTS)
        assert verdict.level is Level.PASS
        assert verdict.finding == "INVALID packets: 0.0/s (0 in 5.0 s; 20 since boot)"
        assert verdict.remedy is None


def test_invalid_rate_thresholds_set_for_this_run() -> None:
    thresholds = Thresholds(invalid_rate_warn=0.5, invalid_rate_fail=2)
    reading, rates = invalid_window(30, since_boot=100)
    fail = counters.invalid_rate(reading, rates, thresholds)
    assert fail.level is Level.FAIL
    assert fail.threshold == "warn above 0.5/s, fail above 2/s"
    assert fail.source.startswith("set for this run (default 10: ctdiag default")
    warn = counters.invalid_rate(*invalid_window(10, since_boot=100), thresholds)
    assert warn.level is Level.WARN
    assert warn.source.startswith("set for this run (default 1: ctdiag default")
    # A pass names both limits' sources, so an overridden fail limit shows there too.
    passed = counters.invalid_rate(*invalid_window(5), Thresholds(invalid_rate_fail=50))
    assert passed.level is Level.PASS
    assert passed.source == (
        "ctdiag default (ctdiag/checks/README.md#invalid); "
        "set for this run (default 10: ctdiag default (ctdiag/checks/README.md#invalid))"
    )


@pytest.mark.parametrize(
    ("delta", "seconds", "shown"),
    [
        (1_001, 100.0, "10.01"),
        (999, 100.0, "9.99"),
        (1_000_001, 100_000.0, "10.00001"),
        (11, 10.0, "1.1"),
    ],
)
def test_invalid_rate_figure_is_not_rounded_onto_a_threshold(
    delta: int, seconds: float, shown: str
) -> None:
    verdict = counters.invalid_rate(*invalid_window(delta, seconds, since_boot=2_000_000), DEFAULTS)
    assert re.match(rf"INVALID packets: {re.escape(shown)}/s ", verdict.finding), verdict.finding


def test_invalid_rate_wraps_like_any_counter() -> None:
    reading, rates = window([{"invalid": U32 - 10}, ZERO], [{"invalid": 91}, ZERO], 10.0)
    verdict = counters.invalid_rate(reading, rates, DEFAULTS)
    assert verdict.level is Level.FAIL
    assert verdict.finding.startswith("INVALID packets: 10.1/s (101 in 10.0 s; 91 since boot)")


@given(a=st.integers(0, 100_000), b=st.integers(0, 100_000), seconds=st.floats(0.5, 600))
def test_invalid_rate_level_is_monotonic_and_exclusive(a: int, b: int, seconds: float) -> None:
    low, high = sorted((a, b))
    since_boot = 200_000
    low_level = counters.invalid_rate(*invalid_window(low, seconds, since_boot), DEFAULTS).level
    high_level = counters.invalid_rate(*invalid_window(high, seconds, since_boot), DEFAULTS).level
    assert low_level <= high_level
    rate = high / seconds
    assert high_level is (Level.FAIL if rate > 10 else Level.WARN if rate > 1 else Level.PASS)
