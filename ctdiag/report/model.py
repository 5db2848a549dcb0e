"""What the report shows, as plain data: one node's figures, one check's result.

Built from the collected state and the checks' verdicts, then rendered to HTML
(:mod:`ctdiag.report.sections`) and JSON (:mod:`ctdiag.report.summary_json`). A
:class:`CheckResult` also travels between processes (pytest-xdist) as JSON.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ctdiag.model.outputs import EntrySource

if TYPE_CHECKING:  # field types only: the report's data stays importable without numpy
    from ctdiag.analyze.service_flows import DnatRow
    from ctdiag.analyze.summary import TableSummary
    from ctdiag.model.probes import ProbeReport
    from ctdiag.model.verdict import Verdict
    from ctdiag.parse.kernel_log import KernelLogFindings
    from ctdiag.parse.sysctl import TableLimits


@dataclass(frozen=True, slots=True)
class RawOutput:
    """One command's output as the report attaches it: the head of it, and how much there was.

    Attributes:
        name: the output name (``entries``, ``stats``...).
        command: the command line.
        exit_status: its exit status.
        duration_s: how long it ran.
        head: the first lines of stdout, decoded (undecodable bytes as U+FFFD).
        lines: lines of the whole stdout.
        shown_lines: lines in ``head``.
        size: bytes of the whole stdout.
        stderr: stderr, decoded and capped the same way.
    """

    name: str
    command: str
    exit_status: int
    duration_s: float
    head: str
    lines: int
    shown_lines: int
    size: int
    stderr: str

    @property
    def truncated(self) -> bool:
        return self.shown_lines < self.lines or len(self.head.encode()) < self.size


@dataclass(frozen=True, slots=True)
class NodeFigures:
    """One node's figures for the report; a part that could not be read is ``None``/empty,
    with the reason in ``problems``.

    Attributes:
        node: node name.
        kernel_release: ``uname -r``.
        conntrack_version: conntrack-tools version, ``None`` without the CLI.
        entry_source: which producer the flow listing came from.
        entry_commands: the listing command(s).
        counter_command: the command the counters were read with.
        collected_at: when collection started.
        window_s: seconds between the two counter readings; ``None`` without a second one.
        limits: count, max, buckets.
        counters: ``(name, total since boot)``, canonical names.
        rates: ``(name, per second over the window)``.
        summary: aggregations of the flow listing.
        kernel_log: conntrack lines found in the kernel log.
        problems: one line per part that could not be read.
        outputs: the raw outputs, capped.
        service_rows: the DNAT table, one row per expected Service port (empty when no
            Service check ran on this node).
        probes: the node's probe results with ``--probe`` (``None`` without).
    """

    node: str
    kernel_release: str
    conntrack_version: str | None
    entry_source: EntrySource
    entry_commands: tuple[str, ...]
    counter_command: str
    collected_at: datetime
    window_s: float | None
    limits: TableLimits | None
    counters: tuple[tuple[str, int], ...]
    rates: tuple[tuple[str, float], ...]
    summary: TableSummary | None
    kernel_log: KernelLogFindings | None
    problems: tuple[str, ...]
    outputs: tuple[RawOutput, ...]
    service_rows: tuple[DnatRow, ...] = ()
    probes: ProbeReport | None = None


class Outcome(enum.StrEnum):
    """How the test ended, as pytest sees it."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


#: Lines pytest puts between the parts of a chained exception.
_CHAINING = frozenset({
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
})  # fmt: skip
#: The level shown for a test without a verdict, by outcome.
LEVEL_WITHOUT_VERDICT = {
    Outcome.PASSED: "PASS",
    Outcome.FAILED: "FAIL",
    Outcome.SKIPPED: "SKIP",
    Outcome.ERROR: "ERROR",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one node, as the report shows it.

    Attributes:
        nodeid: the pytest node id.
        check: the check's function name (``test_table_occupancy``).
        node: the checked node, ``None`` for a test not parametrised by node.
        outcome: how the test ended.
        level: ``PASS``, ``WARN``, ``FAIL`` (from the verdict), or ``ERROR``/``SKIP``.
        finding: the verdict's headline, or the error or skip line.
        remedy: what to do, empty when none.
        trade_off: what doing it costs, empty when no remedy.
        evidence: the verdict's evidence lines (already capped by the check).
        evidence_total: how many evidence lines existed before capping.
        figures: the verdict's named numbers.
    """

    nodeid: str
    check: str
    node: str | None
    outcome: Outcome
    level: str
    finding: str
    remedy: str = ""
    trade_off: str = ""
    evidence: tuple[str, ...] = ()
    evidence_total: int = 0
    figures: tuple[tuple[str, float], ...] = ()

    @classmethod
    def build(
        cls,
        *,
        nodeid: str,
        check: str,
        node: str | None,
        outcome: Outcome,
        verdict: Verdict | None,
        line: str = "",
    ) -> CheckResult:
        """The result of a test, from its verdict when it has one, else from ``line``."""
        if verdict is None:
            level = LEVEL_WITHOUT_VERDICT[outcome]
            return cls(nodeid, check, node, outcome, level, line)
        remedy = verdict.remedy
        return cls(
            nodeid, check, node, outcome, verdict.level.name, verdict.headline,
            remedy.action if remedy is not None else "",
            remedy.trade_off if remedy is not None else "",
            verdict.evidence, max(verdict.evidence_total, len(verdict.evidence)),
            verdict.figures,
        )  # fmt: skip

    def says_all_of(self, text: str) -> bool:
        """Whether a test's failure text says no more than this result: the verdict's
        message, or only the error or skip line (possibly chained to itself)."""
        if not text.strip() or text.startswith(f"{self.level}: {self.finding}"):
            return True
        lines = {line.strip() for line in text.splitlines() if line.strip()} - _CHAINING
        return all(
            line.removeprefix("Failed: ").removeprefix("Skipped: ") == self.finding
            for line in lines
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "check": self.check,
            "node": self.node,
            "outcome": self.outcome.value,
            "level": self.level,
            "finding": self.finding,
            "remedy": self.remedy,
            "trade_off": self.trade_off,
            "evidence": list(self.evidence),
            "evidence_total": self.evidence_total,
            "figures": [[name, value] for name, value in self.figures],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            nodeid=str(data["nodeid"]),
            check=str(data["check"]),
            node=None if data["node"] is None else str(data["node"]),
            outcome=Outcome(data["outcome"]),
            level=str(data["level"]),
            finding=str(data["finding"]),
            remedy=str(data["remedy"]),
            trade_off=str(data["trade_off"]),
            evidence=tuple(str(line) for line in data["evidence"]),
            evidence_total=int(data["evidence_total"]),
            figures=tuple((str(name), float(value)) for name, value in data["figures"]),
        )
