"""Drive a runner through the plan: one full snapshot, then counters again after a window.

The flow listing is by far the slowest command (about 1 s for 262,144 flows), so the small
commands run beside it on a second thread; outputs keep the plan's order. For a sample, the
listing is also parsed while it streams in (:mod:`ctdiag.collect.streaming`) when the runner
can stream, so the table is ready moments after the listing ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from ctdiag.collect.plan import (
    VERSION_PROBE,
    NodeCommand,
    entry_source,
    followup_plan,
    parse_conntrack_version,
    snapshot_plan,
)
from ctdiag.collect.runners import BundlingRunner, CommandRunner, StreamingRunner
from ctdiag.collect.streaming import BackgroundListingParse
from ctdiag.errors import CollectionError, ParseError
from ctdiag.model.outputs import CommandOutput, OutputName, Snapshot
from ctdiag.model.samples import NodeSample
from ctdiag.model.table import ConntrackTable
from ctdiag.parse.listing import listing_tail, listing_text

#: Called with (node, message) as collection progresses.
Progress = Callable[[str, str], None]


def _quiet(node: str, message: str) -> None:
    del node, message


def _run_all(
    runner: CommandRunner, plan: Sequence[NodeCommand], *, parse: bool = False
) -> tuple[list[CommandOutput], ConntrackTable | None]:
    """Every command's output in plan order, and the listing's table when ``parse`` and the
    runner can stream it."""
    slow = [c for c in plan if c.name.startswith(OutputName.ENTRIES)]
    rest = [c for c in plan if c not in slow]
    listing = next((c for c in slow if c.name == OutputName.ENTRIES), None)
    streaming = parse and listing is not None and isinstance(runner, StreamingRunner)
    parser = BackgroundListingParse() if streaming else None
    try:

        def run(command: NodeCommand) -> CommandOutput:
            if parser is not None and command is listing:
                assert isinstance(runner, StreamingRunner)
                return runner.run_streaming(
                    command.name, command.argv, timeout=command.timeout, on_stdout=parser.feed
                )
            return runner.run(command.name, command.argv, timeout=command.timeout)

        with ThreadPoolExecutor(max_workers=1 + len(slow)) as pool:
            listings = [pool.submit(run, command) for command in slow]
            if isinstance(runner, BundlingRunner):  # a debug pod: a few execs for them all
                others = pool.submit(runner.run_many, rest)
            else:
                others = pool.submit(lambda: [run(command) for command in rest])
            by_name = {output.name: output for output in others.result()}
            by_name.update((out.name, out) for out in (future.result() for future in listings))
        outputs = [by_name[command.name] for command in plan]
        _check_required(runner, plan, outputs)
        return outputs, _parsed(parser, by_name) if parser is not None else None
    finally:
        if parser is not None:
            parser.close()


def _check_required(
    runner: CommandRunner, plan: Sequence[NodeCommand], outputs: Sequence[CommandOutput]
) -> None:
    for command, output in zip(plan, outputs, strict=True):
        if command.required:
            output.check(runner.node)


def _parsed(
    parser: BackgroundListingParse, by_name: dict[str, CommandOutput]
) -> ConntrackTable | None:
    """The streamed table, completed with what the state parses after stdout."""
    parser.feed(listing_tail(by_name[OutputName.ENTRIES]))
    ipv6 = by_name.get(OutputName.ENTRIES_IPV6)
    if ipv6 is not None:  # tools before 1.4.7 list the families apart
        parser.feed(listing_text(ipv6))
    try:
        return parser.finish()
    except ParseError:
        return None  # not a listing we read: NodeState.table raises it on first use


def _snapshot(
    runner: CommandRunner,
    version_output: CommandOutput,
    plan: Sequence[NodeCommand],
    *,
    parse: bool = False,
) -> tuple[Snapshot, ConntrackTable | None]:
    collected_at = datetime.now(UTC)
    version = parse_conntrack_version(version_output.text) if version_output.ok else None
    outputs, table = _run_all(runner, plan, parse=parse)
    uname = next(o for o in outputs if o.name == OutputName.UNAME)
    snapshot = Snapshot(
        node=runner.node,
        kernel_release=uname.text.strip(),
        conntrack_version=version,
        collected_at=collected_at,
        entry_source=entry_source(version, version_output.argv),
        outputs=(version_output, *outputs),
    )
    return snapshot, table


def collect_first(
    runner: CommandRunner, progress: Progress = _quiet, *, parse: bool = True
) -> tuple[Snapshot, ConntrackTable | None]:
    """The full first snapshot of a sample, and its listing parsed as it streamed in when
    ``parse`` and the runner can stream (``None`` otherwise).

    Raises:
        CollectionError: a required command failed or any command timed out.
    """
    probe = runner.run(VERSION_PROBE.name, VERSION_PROBE.argv, timeout=VERSION_PROBE.timeout)
    version = parse_conntrack_version(probe.text) if probe.ok else None
    source = f"conntrack-tools {version}" if version else "/proc (no conntrack CLI)"
    if version and probe.argv[:1] == ("chroot",):
        source += " (the host's, via chroot /host)"
    progress(runner.node, f"collecting from {source}")
    start = time.monotonic()
    snapshot, table = _snapshot(runner, probe, snapshot_plan(version), parse=parse)
    listed = sum(len(o.stdout) for o in snapshot.outputs if o.name.startswith("entries"))
    parsed = f", {len(table)} entries parsed as they came" if table is not None else ""
    seconds = time.monotonic() - start
    progress(runner.node, f"collected {listed / 1e6:.1f} MB in {seconds:.2f} s{parsed}")
    return snapshot, table


def collect_snapshot(runner: CommandRunner, *, progress: Progress = _quiet) -> Snapshot:
    """Everything the checks read from one node at one moment (raw outputs, nothing parsed).

    Raises:
        CollectionError: a required command failed or any command timed out.
    """
    return collect_first(runner, progress, parse=False)[0]


def collect_followup(runner: CommandRunner, first: Snapshot) -> Snapshot:
    """The counters again, with the same tools the first snapshot found."""
    probe = first.get(OutputName.CONNTRACK_VERSION)
    if probe is None:
        raise CollectionError("first snapshot lacks the conntrack version probe", node=first.node)
    return _snapshot(runner, probe, followup_plan(first.conntrack_version))[0]


def collect_sample(
    runner: CommandRunner,
    *,
    window_s: float,
    progress: Progress = _quiet,
    sleep: Callable[[float], None] = time.sleep,
) -> NodeSample:
    """A full snapshot, then (when ``window_s > 0``) the counters again ``window_s`` later.

    The flow listing is parsed as it streams in when the runner can stream
    (:class:`~ctdiag.collect.runners.StreamingRunner`): ``NodeSample.table``.

    Raises:
        CollectionError: a required command failed or any command timed out.
    """
    first, table = collect_first(runner, progress)
    if window_s <= 0:
        return NodeSample(first, table=table)
    progress(runner.node, f"sampling counters for {window_s:g} s")
    started = first.collected_at.timestamp()
    sleep(max(0.0, started + window_s - datetime.now(UTC).timestamp()))
    return NodeSample(first, collect_followup(runner, first), table=table)
