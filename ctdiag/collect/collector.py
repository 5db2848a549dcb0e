"""Drive a runner through the plan: one full snapshot, then counters again after a window.

The flow listing is by far the slowest command (about 1 s for 262,144 flows), so the small
commands run beside it on a second thread; outputs keep the plan's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from ctdiag.collect.plan import (
    VERSION_PROBE,
    NodeCommand,
    entry_source,
    followup_plan,
    parse_conntrack_version,
    snapshot_plan,
)
from ctdiag.collect.runner import CommandRunner
from ctdiag.errors import CollectionError
from ctdiag.snapshot import CommandOutput, OutputName, Snapshot

#: Called with (node, message) as collection progresses.
Progress = Callable[[str, str], None]


def _quiet(node: str, message: str) -> None:
    del node, message


@dataclass(frozen=True, slots=True)
class NodeSample:
    """What the checks of one node read: a full snapshot and the counters a window later.

    Attributes:
        before: the full snapshot (entries, counters, tunables, rules, kernel log).
        after: counters again, ``window_s`` later; ``None`` when no window was asked for.
    """

    before: Snapshot
    after: Snapshot | None = None

    @property
    def node(self) -> str:
        return self.before.node


def _run_all(runner: CommandRunner, plan: Sequence[NodeCommand]) -> list[CommandOutput]:
    def run(command: NodeCommand) -> CommandOutput:
        return runner.run(command.name, command.argv, timeout=command.timeout)

    def run_rest(commands: Sequence[NodeCommand]) -> list[CommandOutput]:
        return [run(command) for command in commands]

    slow = [c for c in plan if c.name.startswith(OutputName.ENTRIES)]
    rest = [c for c in plan if c not in slow]
    with ThreadPoolExecutor(max_workers=1 + len(slow)) as pool:
        listings = [pool.submit(run, command) for command in slow]
        others = pool.submit(run_rest, rest)
        by_name = {output.name: output for output in others.result()}
        by_name.update((out.name, out) for out in (future.result() for future in listings))
    outputs = [by_name[command.name] for command in plan]
    for command, output in zip(plan, outputs, strict=True):
        if command.required and not output.ok:
            first = output.error_text.strip().splitlines()[:1]
            detail = f": {first[0]}" if first else ""
            message = f"{command.name} exited {output.exit_status}{detail}"
            raise CollectionError(message, node=runner.node, command=command.argv)
    return outputs


def _snapshot(
    runner: CommandRunner,
    version_output: CommandOutput,
    plan: Sequence[NodeCommand],
) -> Snapshot:
    collected_at = datetime.now(UTC)
    version = parse_conntrack_version(version_output.text) if version_output.ok else None
    outputs = _run_all(runner, plan)
    uname = next(o for o in outputs if o.name == OutputName.UNAME)
    return Snapshot(
        node=runner.node,
        kernel_release=uname.text.strip(),
        conntrack_version=version,
        collected_at=collected_at,
        entry_source=entry_source(version),
        outputs=(version_output, *outputs),
    )


def collect_snapshot(runner: CommandRunner, *, progress: Progress = _quiet) -> Snapshot:
    """Everything the checks read from one node at one moment.

    Raises:
        CollectionError: a required command failed or any command timed out.
    """
    probe = runner.run(VERSION_PROBE.name, VERSION_PROBE.argv, timeout=VERSION_PROBE.timeout)
    version = parse_conntrack_version(probe.text) if probe.ok else None
    source = f"conntrack-tools {version}" if version else "/proc (no conntrack CLI)"
    progress(runner.node, f"collecting from {source}")
    start = time.monotonic()
    snapshot = _snapshot(runner, probe, snapshot_plan(version))
    listed = sum(len(o.stdout) for o in snapshot.outputs if o.name.startswith("entries"))
    progress(runner.node, f"collected {listed / 1e6:.1f} MB in {time.monotonic() - start:.2f} s")
    return snapshot


def collect_followup(runner: CommandRunner, first: Snapshot) -> Snapshot:
    """The counters again, with the same tools the first snapshot found."""
    probe = first.get(OutputName.CONNTRACK_VERSION)
    if probe is None:
        raise CollectionError("first snapshot lacks the conntrack version probe", node=first.node)
    return _snapshot(runner, probe, followup_plan(first.conntrack_version))


def collect_sample(
    runner: CommandRunner,
    *,
    window_s: float,
    progress: Progress = _quiet,
    sleep: Callable[[float], None] = time.sleep,
) -> NodeSample:
    """A full snapshot, then (when ``window_s > 0``) the counters again ``window_s`` later.

    Raises:
        CollectionError: a required command failed or any command timed out.
    """
    first = collect_snapshot(runner, progress=progress)
    if window_s <= 0:
        return NodeSample(first)
    progress(runner.node, f"sampling counters for {window_s:g} s")
    started = first.collected_at.timestamp()
    sleep(max(0.0, started + window_s - datetime.now(UTC).timestamp()))
    return NodeSample(first, collect_followup(runner, first))
