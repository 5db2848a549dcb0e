"""Kernel counters: drops and INVALID packets (checks guide: drops, invalid)."""

from __future__ import annotations

from ctdiag.analyze.rates import CounterRates
from ctdiag.assess import remedies
from ctdiag.assess.thresholds import Thresholds
from ctdiag.assess.wording import beside_limits, sources
from ctdiag.model.verdict import Level, Verdict, by_limits
from ctdiag.parse.stats import ConntrackStats

#: Counters that mean a packet or flow was lost. Kernels that count resolved insert clashes
#: in ``clash_resolve`` (5.10+) count only the unresolved ones in ``insert_failed`` (netfilter
#: "add clash resolution stat counter"), so insert_failed is taken as it is.
DROP_COUNTERS = ("drop", "early_drop", "insert_failed", "chaintoolong")
DROP_SOURCE = (
    "kernel nf_conntrack statistics: drop/early_drop/insert_failed/chaintoolong grow when the "
    "table is full, a chain too long or an insert clash unresolved (ctdiag/checks/README.md#drops)"
)


def _drop_figures(stats: ConntrackStats) -> dict[str, int]:
    figures = {name: stats.total(name) for name in DROP_COUNTERS}
    return {name: value for name, value in figures.items() if value is not None}


def drops(stats: ConntrackStats, rates: CounterRates | None) -> Verdict:
    """Growth during the window fails; non-zero totals since boot warn."""
    totals = _drop_figures(stats)
    growth: dict[str, int] = {}
    if rates is not None:
        grown = {name: rates.delta(name) for name in DROP_COUNTERS}
        growth = {name: value for name, value in grown.items() if value}
    evidence = tuple(f"{name} = {value:,} since boot" for name, value in totals.items())
    if growth:
        window = rates.interval_s if rates is not None else 0.0
        listed = ", ".join(f"{name} +{value:,}" for name, value in growth.items())
        return Verdict(
            Level.FAIL,
            f"conntrack dropped during the {window:.1f} s sampling window: {listed}",
            threshold="fail on any growth during the window",
            source=DROP_SOURCE,
            remedy=remedies.RAISE_MAX,
            evidence=evidence,
            evidence_total=len(evidence),
            figures=tuple((f"{name}_delta", float(v)) for name, v in growth.items()),
        )
    nonzero = {name: value for name, value in totals.items() if value}
    window_note = "no growth during the sampling window" if rates else "no sampling window"
    level = Level.WARN if nonzero else Level.PASS
    listed = ", ".join(f"{name} {value:,}" for name, value in nonzero.items()) or "all zero"
    return Verdict(
        level,
        f"drop counters since boot (or namespace creation): {listed}; {window_note}",
        threshold="warn on non-zero totals since boot, fail on growth during the window",
        source=DROP_SOURCE,
        remedy=remedies.RAISE_MAX if nonzero else None,
        evidence=evidence if nonzero else (),
        evidence_total=len(evidence) if nonzero else 0,
        figures=tuple((name, float(value)) for name, value in totals.items()),
    )


def invalid_rate(stats: ConntrackStats, rates: CounterRates, thresholds: Thresholds) -> Verdict:
    """Growth of ``invalid`` per second over the window against the warn and fail rates."""
    delta = rates.delta("invalid")
    rate = (delta or 0) / rates.interval_s if rates.interval_s else 0.0
    level = by_limits(
        rate, warn=thresholds.invalid_rate_warn, fail=thresholds.invalid_rate_fail, inclusive=False
    )
    name = {Level.FAIL: "invalid_rate_fail", Level.WARN: "invalid_rate_warn"}.get(level)
    source = (
        thresholds.source(name)
        if name
        else sources(thresholds, "invalid_rate_warn", "invalid_rate_fail")
    )
    shown = beside_limits(
        rate, (thresholds.invalid_rate_warn, thresholds.invalid_rate_fail), digits=1
    )
    total = stats.total("invalid")
    since_boot = f"{total:,}" if total is not None else "unknown"
    return Verdict(
        level,
        f"INVALID packets: {shown}/s ({delta or 0:,} in {rates.interval_s:.1f} s; "
        f"{since_boot} since boot)",
        threshold=(
            f"warn above {thresholds.invalid_rate_warn:g}/s, "
            f"fail above {thresholds.invalid_rate_fail:g}/s"
        ),
        source=source,
        remedy=remedies.LOG_INVALID if level is not Level.PASS else None,
        figures=(("invalid_per_second", rate), ("invalid_delta", float(delta or 0))),
    )
