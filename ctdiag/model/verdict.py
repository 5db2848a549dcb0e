"""What a check concludes: a level, the finding with its numbers, the threshold and its
source, the remedy with its trade-off, and the evidence behind it. Pure data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.IntEnum):
    """How bad a finding is. Between warn and fail a run still passes (``--strict-warn``)."""

    PASS = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True, slots=True)
class Remedy:
    """What to do about a finding, and what doing it costs."""

    action: str
    trade_off: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check's conclusion about one node.

    Attributes:
        level: pass, warn or fail.
        finding: what was found, with the numbers (``table 92.1 % full: 241,593 of 262,144``).
        threshold: the limit it was judged against (``fail at >= 0.90``), empty if none.
        source: where that limit comes from.
        remedy: what to do, for warn and fail.
        evidence: lines that show the finding (entries, counters), at most the evidence limit.
        evidence_total: how many such lines existed before capping.
        figures: named numbers for the report and summary.json.
    """

    level: Level
    finding: str
    threshold: str = ""
    source: str = ""
    remedy: Remedy | None = None
    evidence: tuple[str, ...] = ()
    evidence_total: int = 0
    figures: tuple[tuple[str, float], ...] = ()

    @property
    def headline(self) -> str:
        """One line: the finding, against its threshold and source."""
        parts = [self.finding]
        if self.threshold:
            parts.append(f"threshold: {self.threshold}")
        if self.source:
            parts.append(f"source: {self.source}")
        return "; ".join(parts)

    def message(self) -> str:
        """The full text shown for a warn or fail: headline, remedy, evidence."""
        lines = [f"{self.level.name}: {self.headline}"]
        if self.remedy is not None:
            lines.append(f"remedy: {self.remedy.action}")
            lines.append(f"trade-off: {self.remedy.trade_off}")
        if self.evidence:
            shown = len(self.evidence)
            more = (
                f" (first {shown} of {self.evidence_total})" if self.evidence_total > shown else ""
            )
            lines.append(f"evidence{more}:")
            lines.extend(f"  {line}" for line in self.evidence)
        return "\n".join(lines)


def by_limits(
    value: float, *, warn: float | None, fail: float | None, inclusive: bool = True
) -> Level:
    """FAIL at/above ``fail``, WARN at/above ``warn``, else PASS (``inclusive=False``: above)."""

    def reached(limit: float | None) -> bool:
        if limit is None:
            return False
        return value >= limit if inclusive else value > limit

    if reached(fail):
        return Level.FAIL
    if reached(warn):
        return Level.WARN
    return Level.PASS
