"""A node's figures for the report, read from its :class:`~ctdiag.analyze.node_state.NodeState`.

Only aggregates are taken (the table summary, totals, rates), never rows, so a node with a
million entries costs the report what its summary costs. Each part is read on its own: one
unreadable output leaves a line in ``problems`` instead of an empty report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ctdiag.analyze.node_state import NodeState
from ctdiag.analyze.rates import Sample
from ctdiag.analyze.service_flows import dnat_rows
from ctdiag.errors import CtdiagError
from ctdiag.model.outputs import CommandOutput, OutputName
from ctdiag.parse.stats import StatsSource, parse_stats
from ctdiag.report.model import NodeFigures, RawOutput
from ctdiag.report.raw_outputs import DEFAULT_OUTPUT_LINES

#: The report shows at most this many lines and bytes of each output (and says so).
DEFAULT_OUTPUT_BYTES = 256 * 1024

T = TypeVar("T")


def _head(data: bytes, max_lines: int, max_bytes: int) -> tuple[str, int, int]:
    """(decoded head, lines in all of ``data``, lines in the head), without splitting it all."""
    total = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    end = 0
    for _ in range(max_lines):
        newline = data.find(b"\n", end, max_bytes + 1)
        if newline < 0:
            end = len(data)
            break
        end = newline + 1
    head = data[: min(end, max_bytes)].decode("utf-8", errors="replace")
    shown = head.count("\n") + (1 if head and not head.endswith("\n") else 0)
    return head, total, shown


def raw_output(output: CommandOutput, *, max_lines: int, max_bytes: int) -> RawOutput:
    """``output`` capped to its first ``max_lines`` lines and ``max_bytes`` bytes."""
    head, lines, shown = _head(output.stdout, max_lines, max_bytes)
    stderr, _, _ = _head(output.stderr, max_lines, max_bytes)
    return RawOutput(
        name=output.name,
        command=" ".join(output.argv),
        exit_status=output.exit_status,
        duration_s=output.duration_s,
        head=head,
        lines=lines,
        shown_lines=shown,
        size=len(output.stdout),
        stderr=stderr,
    )


def _attempt(problems: list[str], what: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except CtdiagError as exc:
        problems.append(f"{what}: {exc}")
        return None


def _extra_proc_counters(
    state: NodeState, known: set[str]
) -> tuple[list[tuple[str, int]], list[tuple[str, float]]]:
    """Counters only ``/proc/net/stat/nf_conntrack`` has (``ignore``, ``searched``...), and
    their rates, when the counters came from ``conntrack -S``."""
    output = state.snapshot.get(OutputName.STATS_PROC)
    if output is None or not output.ok or state.stats.source is StatsSource.PROC_FILE:
        return [], []
    totals = [(n, v) for n, v in parse_stats(output.text).totals if n not in known]
    after = state.sample.after
    if not totals or after is None:
        return totals, []
    rates = Sample(state.snapshot, after).rates(OutputName.STATS_PROC)
    return totals, [(name, rates[name]) for name, _ in totals if name in rates]


def node_figures(
    state: NodeState,
    *,
    max_lines: int = DEFAULT_OUTPUT_LINES,
    max_bytes: int = DEFAULT_OUTPUT_BYTES,
) -> NodeFigures:
    """Everything the report shows about one node.

    Args:
        state: the node's collected state.
        max_lines: lines of each raw output to attach.
        max_bytes: bytes of each raw output to attach.
    """
    snapshot = state.snapshot
    problems: list[str] = []
    stats = _attempt(problems, "counters", lambda: state.stats)
    counters = list(stats.totals) if stats is not None else []
    rates_read = _attempt(problems, "counter rates", lambda: state.rates)
    rates = [(name, rates_read[name]) for name in rates_read] if rates_read else []
    if stats is not None:
        extra = _attempt(
            problems,
            "/proc counters",
            lambda: _extra_proc_counters(state, set(stats.reported)),
        )
        if extra is not None:
            counters += extra[0]
            rates += extra[1]
    from_cli = stats is not None and stats.source is StatsSource.CONNTRACK_CLI
    counter_output = snapshot.get(OutputName.STATS if from_cli else OutputName.STATS_PROC)
    after = state.sample.after
    service_flows = state.indexed_service_flows
    return NodeFigures(
        node=state.node,
        kernel_release=snapshot.kernel_release,
        conntrack_version=snapshot.conntrack_version,
        entry_source=snapshot.entry_source,
        entry_commands=tuple(
            " ".join(o.argv) for o in snapshot.outputs if o.name.startswith(OutputName.ENTRIES)
        ),
        counter_command=" ".join(counter_output.argv) if counter_output else "",
        collected_at=snapshot.collected_at,
        window_s=((after.collected_at - snapshot.collected_at).total_seconds() if after else None),
        limits=_attempt(problems, "count and limits", lambda: state.limits),
        counters=tuple(counters),
        rates=tuple(rates),
        summary=_attempt(problems, "flow listing", lambda: state.summary),
        kernel_log=_attempt(problems, "kernel log", lambda: state.kernel_log),
        problems=tuple(problems),
        outputs=tuple(
            raw_output(o, max_lines=max_lines, max_bytes=max_bytes) for o in snapshot.outputs
        ),
        service_rows=dnat_rows(service_flows) if service_flows is not None else (),
        probes=state.probe_report,
    )
