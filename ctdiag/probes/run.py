"""Send the probes from the node's network namespace, read its table, judge, clean up.

:func:`run_probes` is what a check calls, with any
:class:`~ctdiag.collect.runners.CommandRunner` of the node: a debug pod's (hostNetwork, so
the node's namespace), :class:`~ctdiag.collect.runners.LocalRunner` for ``--local``, or
:class:`~ctdiag.collect.runners.NetnsRunner` for ``--netns`` and the lab's node namespace.
Packets sent there go through the node's OUTPUT and POSTROUTING hooks, where kube-proxy's
``KUBE-SERVICES`` DNATs them, so the node's own table holds their entries.

Where probes may go is the caller's :class:`~ctdiag.model.probes.ProbeTargets`, what the
cluster or node itself reports (never the expected Services being checked): a Service port
whose address is not in it is refused (a FAIL result, one line) and nothing is sent to it.

Order of work: ``python3 -c pass`` (127: SKIP with the reason); the node's source address
per target (the sender's ``route`` mode); one listing per source address to choose source
ports unused in the table; the INVALID self-test alone between two readings of the
``invalid`` counter; every other probe at once, with a short bounded wait for replies; one
listing per source address to judge them; ``conntrack -D`` of each probe's own entry.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ctdiag.collect.plan import COMMAND_TIMEOUT
from ctdiag.collect.runners import MISSING_COMMAND_STATUS, CommandRunner
from ctdiag.errors import CollectionError
from ctdiag.model.entries import ConntrackEntry
from ctdiag.model.probes import CraftedProbe, ProbeKind, ProbeReport, ProbeResult, ProbeTargets
from ctdiag.model.services import ExpectedServicePort, ServiceProtocol
from ctdiag.probes import verdicts
from ctdiag.probes.crafting import (
    UNREPLIED_PORT,
    craft_invalid_probe,
    craft_service_probe,
    craft_unreplied_probe,
)
from ctdiag.probes.destinations import (
    check_target,
    pick_source_ports,
    refusal,
    self_test_target,
)
from ctdiag.probes.node_table import NodeTable, find_entry
from ctdiag.probes.sender import PYTHON_PROBE, run_sender

#: Seconds the sender listens for replies after sending (its own cap is 10 s).
REPLY_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How probes are run.

    Attributes:
        reply_wait_s: how long the sender listens for replies (0-10 s).
        self_test_target: the pod address of the self-tests (default: the first ready
            endpoint the targets call a pod address, else their lowest pod address).
        self_test_port: the port of the self-tests; nothing must listen there.
        cleanup: delete the probes' entries afterwards.
        seed: seeds source ports, sequence numbers and DNS ids (``None``: random).
    """

    reply_wait_s: float = REPLY_WAIT_S
    self_test_target: str | None = None
    self_test_port: int = UNREPLIED_PORT
    cleanup: bool = True
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class _Sent:
    sent: bool
    error: str
    replies: tuple[str, ...]


_Plan = tuple[list[tuple[ExpectedServicePort, str]], list[ProbeResult], str | None]


def _plan(
    services: Sequence[ExpectedServicePort], targets: ProbeTargets, options: ProbeOptions
) -> _Plan:
    """(probed ports with their ClusterIP, SKIP and refused results, self-test target)."""
    probed: list[tuple[ExpectedServicePort, str]] = []
    skips: list[ProbeResult] = []
    for port in services:
        kind = (ProbeKind.SERVICE_TCP if port.port.protocol is ServiceProtocol.TCP
                else ProbeKind.SERVICE_UDP)  # fmt: skip
        if port.port.protocol is ServiceProtocol.SCTP:
            skips.append(verdicts.port_skipped(port.id, kind, "SCTP ports are not probed"))
        elif not port.port.ready_endpoints:
            why = "no ready endpoint to translate to: not probed"
            skips.append(verdicts.port_skipped(port.id, kind, why))
        else:
            for ip in port.service.cluster_ips:
                refused = refusal(targets, ip)
                if refused is None:
                    probed.append((port, check_target(targets, ip)))
                else:
                    skips.append(verdicts.refused(port.id, kind, refused))
    if options.self_test_target is not None:
        return probed, skips, check_target(targets, options.self_test_target, pod_only=True)
    return probed, skips, self_test_target(targets, services)


def run_probes(
    runner: CommandRunner, services: Sequence[ExpectedServicePort], targets: ProbeTargets, *,
    timeout: float = COMMAND_TIMEOUT, options: ProbeOptions = ProbeOptions(),
) -> ProbeReport:  # fmt: skip
    """Probe every TCP/UDP Service port with ready endpoints, plus the two self-tests.

    Args:
        runner: runs commands in the node's network namespace.
        services: the expected Service ports (their ClusterIPs are probed).
        targets: where probes may go, as the cluster or node itself reports it; a ClusterIP
            outside it is refused (a FAIL result naming it) and never sent to.
        timeout: seconds each command on the node may take.
        options: see :class:`ProbeOptions`.

    Returns:
        The node's report; ``skipped`` says why when the node has no ``python3``.

    Raises:
        ProbeTargetError: ``options.self_test_target`` is not a pod address of ``targets``
            (before anything runs).
        CollectionError: a command timed out, the sender failed (no raw sockets), or the
            table could not be read.
    """
    node = runner.node
    probed, skips, pod = _plan(services, targets, options)
    no_self_tests = [
        verdicts.port_skipped("", kind, f"no pod address {targets.basis} to aim the self-tests at")
        for kind in (ProbeKind.UNREPLIED, ProbeKind.INVALID)
    ]
    if not probed and pod is None:  # everything refused or skipped: nothing runs on the node
        return ProbeReport(node, (*skips, *no_self_tests))
    python = runner.run("probe_python", PYTHON_PROBE, timeout=timeout)
    if python.exit_status == MISSING_COMMAND_STATUS:
        why = python.error_text.strip().splitlines()[-1:] or ["not found"]
        return ProbeReport(node, (), skipped=f"no python3 on {node} to send probes: {why[0]}")
    if python.exit_status != 0:
        raise CollectionError(f"python3 -c pass exited {python.exit_status}", node=node,
                              command=PYTHON_PROBE)  # fmt: skip
    rng = random.Random(options.seed)
    table = NodeTable(runner, timeout=timeout)
    destinations = sorted({ip for _, ip in probed} | ({pod} if pod else set()))
    sources = _routes(runner, destinations, timeout)
    used = {e.orig.sport for src in set(sources.values()) for e in table.entries_from(src)}
    ports = iter(pick_source_ports(len(probed) + 2, {p for p in used if p}, rng))
    batch = [craft_service_probe(port, ip, sources[ip], next(ports), targets, rng)
             for port, ip in probed]  # fmt: skip
    self_tests: list[ProbeResult] = no_self_tests
    if pod is not None:
        batch.append(craft_unreplied_probe(pod, sources[pod], next(ports), targets,
                                           options.self_test_port))  # fmt: skip
        invalid = craft_invalid_probe(pod, sources[pod], next(ports), targets,
                                      options.self_test_port)  # fmt: skip
        self_tests = [_invalid_self_test(runner, table, invalid, timeout)]
    outcomes = _send(runner, batch, options.reply_wait_s, timeout)
    entries = {src: table.entries_from(src) for src in {p.flow.src for p in batch}}
    results = [_judge(p, o, entries[p.flow.src]) for p, o in zip(batch, outcomes, strict=True)]
    cleanup = _cleanup(table, batch, results) if options.cleanup else []
    return ProbeReport(node, (*results, *skips, *self_tests), cleanup=tuple(cleanup))


def _invalid_self_test(runner: CommandRunner, table: NodeTable, probe: CraftedProbe,
                       timeout: float) -> ProbeResult:  # fmt: skip
    """Send the SYN+RST alone between two readings of the ``invalid`` counter."""
    before = table.invalid_total()
    (outcome,) = _send(runner, [probe], 0.0, timeout)
    after = table.invalid_total()
    if not outcome.sent:
        return verdicts.not_sent(probe, outcome.error)
    return verdicts.judge_invalid(probe, before, after)


def _judge(probe: CraftedProbe, outcome: _Sent, entries: list[ConntrackEntry]) -> ProbeResult:
    if not outcome.sent:
        return verdicts.not_sent(probe, outcome.error)
    entry = find_entry(entries, probe.flow)
    if probe.kind is ProbeKind.UNREPLIED:
        return verdicts.judge_unreplied(probe, entry, outcome.replies)
    return verdicts.judge_service(probe, entry, outcome.replies)


def _routes(runner: CommandRunner, targets: Sequence[str], timeout: float) -> dict[str, str]:
    """The node's source address toward each target (its routing decides, nothing is sent)."""
    out = run_sender(runner, "probe_route", "route", targets, timeout=timeout)
    _require(out.exit_status, out.error_text, runner.node, "route")
    sources: dict[str, str] = {}
    for line in out.text.splitlines():
        answer = json.loads(line)
        if "src" not in answer:
            raise CollectionError(f"no route to {answer['dst']}: {answer.get('error')}",
                                  node=runner.node)  # fmt: skip
        sources[answer["dst"]] = answer["src"]
    missing = [t for t in targets if t not in sources]
    if missing:
        raise CollectionError(f"probe sender gave no source for {', '.join(missing)}",
                              node=runner.node)  # fmt: skip
    return sources


def _send(runner: CommandRunner, probes: Sequence[CraftedProbe], wait: float,
          timeout: float) -> list[_Sent]:  # fmt: skip
    if not probes:
        return []
    words = [f"{wait:g}", *(base64.b64encode(p.packet).decode() for p in probes)]
    out = run_sender(runner, "probe_send", "send", words, timeout=timeout + wait)
    _require(out.exit_status, out.error_text, runner.node, "send")
    by_index = {}
    for line in out.text.splitlines():
        answer = json.loads(line)
        by_index[answer["i"]] = _Sent(bool(answer["sent"]), str(answer["error"]),
                                      tuple(answer["replies"]))  # fmt: skip
    lost = _Sent(False, "the sender did not report it", ())
    return [by_index.get(i, lost) for i in range(len(probes))]


def _require(status: int, stderr: str, node: str, mode: str) -> None:
    if status != 0:
        last = stderr.strip().splitlines()[-1:] or [f"exit status {status}"]
        raise CollectionError(f"probe sender ({mode}) failed: {last[0]}", node=node,
                              command=("python3", "-c", "SENDER_SOURCE", mode))  # fmt: skip


def _cleanup(table: NodeTable, probes: Sequence[CraftedProbe],
             results: Sequence[ProbeResult]) -> list[str]:  # fmt: skip
    """Delete each found probe entry (bounded: one ``conntrack -D`` per probe)."""
    left: list[str] = []
    deadline = time.monotonic() + 30.0
    for probe, result in zip(probes, results, strict=True):
        if not result.entry_found:
            continue
        if time.monotonic() > deadline:
            left.append(f"{probe.flow}: not deleted (cleanup time ran out)")
            continue
        problem = table.delete(probe.flow)
        if problem:
            left.append(problem)
    return left
