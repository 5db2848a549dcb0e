"""The table's shape: UNREPLIED and half-open flows, top talkers (checks guide: flows)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ctdiag.analyze.summary import Count, TableSummary
from ctdiag.assess import remedies
from ctdiag.assess.evidence import entry_lines, half_open_rows, source_rows, unreplied_rows
from ctdiag.assess.thresholds import Thresholds
from ctdiag.assess.wording import sources
from ctdiag.model.table import ConntrackTable
from ctdiag.model.verdict import Level, Remedy, Verdict

BLACKHOLE = Remedy(
    "find why those destinations do not answer: a Service without ready endpoints, a pod "
    "deleted while clients keep sending (stale DNAT), a NetworkPolicy or firewall dropping "
    "replies, DNS sent to dead CoreDNS pods; NodeLocal DNSCache for DNS-heavy nodes",
    "shortening nf_conntrack_udp_timeout or the SYN_SENT timeout only hides the symptom",
)
SYN_FLOOD = Remedy(
    "find the destinations that do not complete handshakes (blackholed backends, SYN "
    "flood); check Service endpoints and NetworkPolicies, enable SYN cookies on targets",
    "half-open entries live 120 s (SYN_SENT) each; lowering the timeout hides the cause",
)


def _ranking(items: tuple[Count, ...]) -> str:
    return ", ".join(f"{item.key} ({item.count:,})" for item in items[:5]) or "none"


def _both_exceeded(
    count: int, share: float, *, max_count: int, max_share: float
) -> tuple[Level, str]:
    over_count, over_share = count > max_count, share > max_share
    if over_count and over_share:
        return Level.FAIL, "both exceeded"
    if over_count:
        return Level.WARN, "count exceeded, share not"
    return Level.PASS, "within limits" if not over_share else "share exceeded, count not"


def _share_and_count(
    summary: TableSummary,
    table: ConntrackTable,
    thresholds: Thresholds,
    *,
    name: str,
    count: int,
    rows_of: Callable[[ConntrackTable], np.ndarray],
    describe: Callable[[int, float, str], str],
    remedy: Remedy,
) -> Verdict:
    """Both ``<name>_share`` and ``<name>_count`` exceeded fails; the count alone warns.

    ``describe(count, share, how)`` words the finding; the offending rows are the evidence.
    """
    share_key, count_key = f"{name}_share", f"{name}_count"
    max_share: float = getattr(thresholds, share_key)
    max_count: int = getattr(thresholds, count_key)
    share = summary.share(count)
    level, how = _both_exceeded(count, share, max_count=max_count, max_share=max_share)
    rows = rows_of(table) if level is not Level.PASS else None
    return Verdict(
        level,
        describe(count, share, how),
        threshold=(
            f"fail when share > {max_share:g} and count > {max_count:,}; "
            "warn when only the count is exceeded"
        ),
        source=sources(thresholds, share_key, count_key),
        remedy=remedy if level is not Level.PASS else None,
        evidence=entry_lines(table, rows, thresholds.evidence_limit) if rows is not None else (),
        evidence_total=len(rows) if rows is not None else 0,
        figures=((name, float(count)), (share_key, share)),
    )


def unreplied(summary: TableSummary, table: ConntrackTable, thresholds: Thresholds) -> Verdict:
    """Share and count of ``[UNREPLIED]`` entries; both over their limits fails."""

    def describe(count: int, share: float, how: str) -> str:
        return (
            f"{count:,} of {summary.entries:,} entries are [UNREPLIED] ({share:.1%}; {how}); "
            f"top destinations: {_ranking(summary.top_unreplied_destinations)}"
        )

    return _share_and_count(
        summary, table, thresholds, name="unreplied", count=summary.unreplied,
        rows_of=unreplied_rows, describe=describe, remedy=BLACKHOLE,
    )  # fmt: skip


def half_open(summary: TableSummary, table: ConntrackTable, thresholds: Thresholds) -> Verdict:
    """Share and count of SYN_SENT + SYN_RECV entries; both over their limits fails."""
    states = {k: v for k, v in summary.by_state.items() if k.startswith("SYN_")}
    listed = ", ".join(f"{k} {v:,}" for k, v in states.items()) or "none"

    def describe(count: int, share: float, how: str) -> str:
        return (
            f"{count:,} of {summary.entries:,} entries are half-open ({share:.1%}; {listed}; {how})"
        )

    return _share_and_count(
        summary, table, thresholds, name="half_open", count=summary.half_open,
        rows_of=half_open_rows, describe=describe, remedy=SYN_FLOOD,
    )  # fmt: skip


def top_talkers(summary: TableSummary, table: ConntrackTable, thresholds: Thresholds) -> Verdict:
    """No single source address may hold more than ``top_talker_share`` of the table.

    Tables smaller than ``top_talker_min_entries`` are not judged (one client is normal
    there), but the ranking is always reported.
    """
    ranking = tuple(f"{item.key}: {item.count:,}" for item in summary.top_sources)
    figures = tuple((f"source:{item.key}", float(item.count)) for item in summary.top_sources)
    top = summary.top_sources[0] if summary.top_sources else None
    share = summary.share(top.count) if top else 0.0
    small = summary.entries < thresholds.top_talker_min_entries
    level = Level.FAIL if top and share > thresholds.top_talker_share and not small else Level.PASS
    if top is None:
        finding = "the table is empty"
    else:
        finding = (
            f"top source {top.key} holds {top.count:,} of {summary.entries:,} entries ({share:.1%})"
        )
        if small:
            finding += (
                f"; not judged below {thresholds.top_talker_min_entries:,} entries "
                "(top_talker_min_entries)"
            )
    rows = source_rows(table, top.key) if level is Level.FAIL and top else None
    evidence = (
        ranking if rows is None else ranking + entry_lines(table, rows, thresholds.evidence_limit)
    )
    return Verdict(
        level,
        finding,
        threshold=(
            f"fail when one source holds > {thresholds.top_talker_share:g} of a table of at "
            f"least {thresholds.top_talker_min_entries:,} entries"
        ),
        source=sources(thresholds, "top_talker_share", "top_talker_min_entries"),
        remedy=remedies.SPREAD_LOAD if level is Level.FAIL else None,
        evidence=evidence,
        evidence_total=len(ranking) + (len(rows) if rows is not None else 0),
        figures=(("top_source_share", share), *figures),
    )
