"""``ctdiag diff BEFORE AFTER``: compare two saved runs of the same nodes (pre/post upgrade)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from typing import Any

from ctdiag.analyze.diff.runs import NodeDiff, RunDiff, diff_runs
from ctdiag.analyze.diff.sections import CounterChange, Occupancy
from ctdiag.analyze.diff.table import CountChange, TableChange
from ctdiag.cli import help_of
from ctdiag.collect.store.run_reader import load_sample, read_run

EXIT_SAME = 0
EXIT_DIFFERENT = 1
DEFAULT_LIMIT = 20
DIFF_FORMAT = "ctdiag-diff"


def add_parser(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "diff",
        help=help_of("diff"),
        description=(
            "Compare two runs saved with `pytest --save-snapshot DIR` (or two snapshot "
            "directories) of the same nodes, e.g. before and after an upgrade: versions, "
            "reboots, occupancy, counters since boot, tunables, iptables/nftables rules "
            "(counters and comments ignored), the table's shape, nodes that appeared or "
            f"vanished. Exit status: {EXIT_SAME} no differences worth noting, "
            f"{EXIT_DIFFERENT} differences, 2 unreadable input."
        ),
    )
    p.add_argument("before", metavar="BEFORE", help="the earlier run (or snapshot) directory")
    p.add_argument("after", metavar="AFTER", help="the later run (or snapshot) directory")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"lines shown per list in the text output (default {DEFAULT_LIMIT}; 0: all)",
    )
    p.set_defaults(run=run)


def load_and_diff(before: str, after: str) -> RunDiff:
    """Read both runs and compare them.

    Raises:
        SnapshotError: either input is not a readable run or snapshot (one line).
    """
    runs = [read_run(before), read_run(after)]
    samples = [[load_sample(n) for n in run.nodes if n.before is not None] for run in runs]
    failed = [{n.node: n.error for n in run.nodes if n.error is not None} for run in runs]
    return diff_runs(samples[0], samples[1], failed_before=failed[0], failed_after=failed[1])


def run(args: argparse.Namespace) -> int:
    result = load_and_diff(args.before, args.after)
    if args.json:
        json.dump(to_json(result, args.before, args.after), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for line in render_text(result, args.before, args.after, limit=args.limit):
            sys.stdout.write(line + "\n")
    return EXIT_DIFFERENT if result.has_differences else EXIT_SAME


def to_json(result: RunDiff, before: str, after: str) -> dict[str, Any]:
    """The comparison as JSON-ready data: the dataclasses' fields plus the verdicts."""
    nodes = []
    for node in result.nodes:
        data = dataclasses.asdict(node)
        data["collected"] = [t.isoformat() for t in node.collected]
        data["differences"] = list(node.differences)
        nodes.append(data)
    return {
        "format": DIFF_FORMAT,
        "before": before,
        "after": after,
        "differences": result.has_differences,
        "only_before": list(result.only_before),
        "only_after": list(result.only_after),
        "uncollected": [dataclasses.asdict(item) for item in result.uncollected],
        "nodes": nodes,
    }


def _limited(lines: list[str], limit: int) -> Iterator[str]:
    shown = lines if limit <= 0 else lines[:limit]
    yield from shown
    if len(shown) < len(lines):
        yield f"... and {len(lines) - len(shown)} more (--limit 0 shows all)"


def _occupancy(value: Occupancy | None) -> str:
    if value is None:
        return "unreadable"
    return f"{value.count:,}/{value.max:,} ({value.share:.1%})"


def _counter(change: CounterChange) -> str:
    old = "-" if change.before is None else f"{change.before:,}"
    new = "-" if change.after is None else f"{change.after:,}"
    delta = "" if change.delta is None else f" (+{change.delta:,})"
    mark = "  <- lost or refused packets" if change.notable else ""
    return f"{change.name}: {old} -> {new}{delta}{mark}"


def _counts(title: str, changes: tuple[CountChange, ...]) -> list[str]:
    if not changes:
        return []
    items = ", ".join(f"{c.key} {c.before:,} -> {c.after:,}" for c in changes)
    return [f"{title}: {items}"]


def _table(table: TableChange, limit: int) -> list[str]:
    lines = _counts("entries", table.totals)
    lines += _counts("by state", table.states) + _counts("by protocol", table.protocols)
    for title, items in (
        ("Service -> endpoint appeared", table.services_appeared),
        ("Service -> endpoint vanished", table.services_vanished),
        ("entered the top sources", table.sources_entered),
        ("left the top sources", table.sources_left),
    ):
        if items:
            lines.append(f"{title}:")
            lines += ["  " + item for item in _limited(list(items), limit)]
    return lines


def _node(node: NodeDiff, limit: int) -> Iterator[str]:
    differences = node.differences
    when = " -> ".join(t.strftime("%Y-%m-%d %H:%M:%S UTC") for t in node.collected)
    verdict = f"{len(differences)} differences worth noting" if differences else "no differences"
    yield f"== {node.node} ({when}): {verdict}"
    for change in (node.kernel, node.conntrack_version):
        if change is not None:
            yield f"  {change.name}: {change.before or 'none'} -> {change.after or 'none'}"
    if node.reboot:
        yield f"  rebooted in between: {node.reboot} (counters restarted from zero)"
    yield f"  occupancy: {_occupancy(node.occupancy[0])} -> {_occupancy(node.occupancy[1])}"
    if node.counters:
        yield "  counters since boot:"
        yield from ("    " + _counter(c) for c in node.counters)
    if node.tunables:
        yield "  tunables:"
        for t in node.tunables:
            if t.before is None:
                yield f"    + {t.name} = {t.after}"
            elif t.after is None:
                yield f"    - {t.name} (was {t.before})"
            else:
                yield f"    ~ {t.name}: {t.before} -> {t.after}"
    for rules in node.rules:
        yield f"  rules {rules.output}: +{len(rules.added)} -{len(rules.removed)}"
        changed = [f"+ {line}" for line in rules.added] + [f"- {line}" for line in rules.removed]
        yield from ("    " + line for line in _limited(changed, limit))
    if node.table is not None and not node.table.empty:
        yield "  table (informational):"
        yield from ("    " + line for line in _table(node.table, limit))
    yield from (f"  note: {note}" for note in node.notes)


def render_text(result: RunDiff, before: str, after: str, *, limit: int) -> Iterator[str]:
    """The comparison for people: one block per node, then a one-line summary."""
    yield f"ctdiag diff {before} -> {after}"
    if result.only_before:
        yield f"only in BEFORE (vanished): {', '.join(result.only_before)}"
    if result.only_after:
        yield f"only in AFTER (appeared): {', '.join(result.only_after)}"
    for item in result.uncollected:
        yield f"not collected {item.side.upper()}: {item.node}: {item.error}"
    for node in result.nodes:
        yield from _node(node, limit)
    changed = sum(1 for node in result.nodes if node.differences)
    verdict = "differences worth noting" if result.has_differences else "no differences"
    yield f"{len(result.nodes)} nodes compared, {changed} changed: {verdict}"
