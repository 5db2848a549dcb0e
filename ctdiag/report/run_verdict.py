"""The run's verdict at one glance: the worst level, each node's worst level, the checks by
level, and the worst findings with their remedies. Pure data, for the top of the HTML
report (:mod:`ctdiag.report.front_page`) and ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ctdiag.report.model import CheckResult

#: Levels from worst to best. FAIL ranks above ERROR: a failed check is a finding about the
#: node, an error means a check could not look. SKIP is the verdict of a run that judged
#: nothing.
SEVERITY = ("FAIL", "ERROR", "WARN", "PASS", "SKIP")
#: The levels the front page lists findings of, in that order.
FINDING_LEVELS = ("FAIL", "ERROR", "WARN")
#: Findings shown on the front page; the rest are counted.
FINDINGS_SHOWN = 10


def rank(level: str) -> int:
    """The position of ``level`` in :data:`SEVERITY` (an unknown level ranks as ERROR)."""
    return SEVERITY.index(level) if level in SEVERITY else SEVERITY.index("ERROR")


def worst(levels: Iterable[str]) -> str:
    """The worst of ``levels``; ``SKIP`` when there are none."""
    return min(levels, key=rank, default="SKIP")


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding on the front page, with every check of one node that gave it.

    Attributes:
        level: FAIL, ERROR or WARN.
        node: the node, ``None`` for a test not parametrised by node.
        finding: the verdict's headline, or the error line.
        remedy: what to do, empty when none.
        trade_off: what doing it costs, empty when no remedy.
        checks: the checks (names with their parameters other than the node).
    """

    level: str
    node: str | None
    finding: str
    remedy: str
    trade_off: str
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """The run at one glance.

    Attributes:
        level: the worst level over every check and node.
        nodes: ``(node, its worst level)``, worst first, then in the order selected.
        counts: ``(level, number of checks)`` for every level of :data:`SEVERITY`.
        findings: FAIL, then ERROR, then WARN findings, at most :data:`FINDINGS_SHOWN`.
        findings_left_off: findings not in ``findings``.
    """

    level: str
    nodes: tuple[tuple[str, str], ...]
    counts: tuple[tuple[str, int], ...]
    findings: tuple[Finding, ...]
    findings_left_off: int

    @property
    def checks(self) -> int:
        return sum(n for _, n in self.counts)


def node_level(checks: Sequence[CheckResult], failure: str | None) -> str:
    """A node's worst level: its checks', and ERROR when it could not be collected."""
    return worst([*(r.level for r in checks), *(["ERROR"] if failure is not None else [])])


def _findings(checks: Sequence[CheckResult]) -> list[Finding]:
    # One finding per (level, node, text): a node that could not be read is one finding,
    # not one per check.
    grouped: dict[tuple[str, str | None, str, str, str], list[str]] = {}
    for result in checks:
        if result.level in FINDING_LEVELS:
            key = (result.level, result.node, result.finding, result.remedy, result.trade_off)
            grouped.setdefault(key, []).append(result.check)
    found = [Finding(*key, checks=tuple(names)) for key, names in grouped.items()]
    return sorted(found, key=lambda f: FINDING_LEVELS.index(f.level))  # stable: run order


def run_verdict(
    node_names: Sequence[str],
    failures: Mapping[str, str],
    checks: Sequence[CheckResult],
    *,
    shown: int = FINDINGS_SHOWN,
) -> RunVerdict:
    """The verdict of a run.

    Args:
        node_names: the nodes, in the order selected (nodes only named by checks are added).
        failures: the error line of each node that could not be collected.
        checks: every check result of the run.
        shown: at most this many findings are listed.
    """
    names = list(dict.fromkeys([*node_names, *(r.node for r in checks if r.node is not None)]))
    levels = {
        name: node_level([r for r in checks if r.node == name], failures.get(name))
        for name in names
    }
    nodes = sorted(levels.items(), key=lambda item: rank(item[1]))  # stable: selection order
    counts = tuple((level, sum(r.level == level for r in checks)) for level in SEVERITY)
    findings = _findings(checks)
    unnamed = [r.level for r in checks if r.node is None]
    return RunVerdict(
        level=worst([*levels.values(), *unnamed]),
        nodes=tuple(nodes),
        counts=counts,
        findings=tuple(findings[:shown]),
        findings_left_off=max(0, len(findings) - shown),
    )
