"""Table capacity: occupancy and hash sizing (checks guide: capacity)."""

from __future__ import annotations

from ctdiag.assess import remedies
from ctdiag.assess.thresholds import Thresholds
from ctdiag.assess.wording import beside_limits, sources
from ctdiag.model.verdict import Level, Verdict, by_limits
from ctdiag.parse.sysctl import TableLimits


def occupancy(limits: TableLimits, thresholds: Thresholds) -> Verdict:
    """count / max against the warn and fail thresholds."""
    ratio = limits.occupancy
    level = by_limits(ratio, warn=thresholds.occupancy_warn, fail=thresholds.occupancy_fail)
    name = {Level.FAIL: "occupancy_fail", Level.WARN: "occupancy_warn"}.get(level)
    source = (
        thresholds.source(name) if name else sources(thresholds, "occupancy_warn", "occupancy_fail")
    )
    bounds = (thresholds.occupancy_warn, thresholds.occupancy_fail)
    percent = beside_limits(ratio, bounds, digits=1, scale=100)
    return Verdict(
        level=level,
        finding=(
            f"conntrack table {percent}% full: {limits.count:,} of {limits.max:,} entries "
            "(nf_conntrack_count / nf_conntrack_max)"
        ),
        threshold=(
            f"warn at >= {thresholds.occupancy_warn:g}, fail at >= {thresholds.occupancy_fail:g}"
        ),
        source=source,
        remedy=remedies.RAISE_MAX if level is not Level.PASS else None,
        figures=(("count", limits.count), ("max", limits.max), ("occupancy", ratio)),
    )


def hash_buckets(limits: TableLimits, thresholds: Thresholds) -> Verdict:
    """max / buckets: how long hash chains get when the table is full."""
    ratio = limits.max_per_bucket
    level = Level.FAIL if ratio > thresholds.max_per_bucket else Level.PASS
    shown = beside_limits(ratio, (thresholds.max_per_bucket,), digits=2)
    return Verdict(
        level=level,
        finding=(
            f"nf_conntrack_max / nf_conntrack_buckets = {limits.max:,} / {limits.buckets:,} = "
            f"{shown} (a full table averages about {2 * ratio:.1f} entries per chain; "
            "kernels >= 5.15 refuse inserts into over-long chains, counted in chaintoolong)"
        ),
        threshold=f"fail above {thresholds.max_per_bucket:g}",
        source=thresholds.source("max_per_bucket"),
        remedy=remedies.FIX_BUCKETS if level is Level.FAIL else None,
        figures=(("max", limits.max), ("buckets", limits.buckets), ("max_per_bucket", ratio)),
    )
