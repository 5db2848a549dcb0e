"""Probe results as verdicts (pure): they prove or refute what the table showed.

A Service port's table verdict stands unless a fresh probe flow contradicts it: a probe
that was not translated, went to a non-endpoint or got no answer fails ``test_service_dnat``
with the probe's own line, beside the table's finding. The self-tests prove that the
INVALID and UNREPLIED checks can see what they claim to on this node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ctdiag.model.probes import ProbeKind, ProbeLevel, ProbeReport, ProbeResult
from ctdiag.model.verdict import Level, Verdict

PROBE_SOURCE = "--probe: a scapy-crafted flow sent from the node, read back from its table"
SERVICE_EXPECTATION = "the probe's entry is DNAT'd to a ready endpoint and answered"
SELF_TESTS = {
    ProbeKind.INVALID: (
        "an impossible TCP packet (SYN+RST) raises the node's invalid counter",
        "without it, a quiet INVALID counter proves nothing (e.g. NOTRACK rules exempt the "
        "traffic from conntrack)",
    ),
    ProbeKind.UNREPLIED: (
        "UDP to a port nobody listens on leaves an [UNREPLIED] entry",
        "without it, UNREPLIED counts prove nothing (the traffic is not tracked or dropped "
        "before the entry is inserted)",
    ),
}


def with_probes(verdict: Verdict, results: Sequence[ProbeResult]) -> Verdict:
    """``verdict`` (the table's) confirmed or contradicted by the port's probe results."""
    failed = [r for r in results if r.level is ProbeLevel.FAIL]
    passed = [r for r in results if r.level is ProbeLevel.PASS]
    skipped = [r for r in results if r.level is ProbeLevel.SKIP]
    if failed:
        lines = tuple(f"probe: {r.message}" for r in failed)
        finding = f"{len(failed)} of {len(results)} probe flows failed: {failed[0].message}"
        if verdict.level is Level.FAIL:
            finding = f"{verdict.finding}; and {finding}"
        return dataclasses.replace(
            verdict, level=Level.FAIL, finding=finding,
            threshold=verdict.threshold or SERVICE_EXPECTATION,
            source=verdict.source or PROBE_SOURCE,
            evidence=(*lines, *verdict.evidence),
            evidence_total=verdict.evidence_total + len(lines),
        )  # fmt: skip
    note = (
        f"; probe: {passed[0].message}" if passed
        else f"; probe skipped: {skipped[0].message}" if skipped else ""
    )  # fmt: skip
    return dataclasses.replace(verdict, finding=verdict.finding + note)


def self_test_verdict(report: ProbeReport, kind: ProbeKind) -> Verdict | str:
    """The self-test's verdict, or why it did not run (the check skips with it)."""
    result = next((r for r in report.results if r.kind is kind), None)
    if report.skipped:
        return report.skipped
    if result is None or result.level is ProbeLevel.SKIP:
        return result.message if result is not None else f"no {kind.value} self-test was run"
    expectation, why = SELF_TESTS[kind]
    if result.level is ProbeLevel.PASS:
        return Verdict(Level.PASS, result.message, threshold=expectation, source=PROBE_SOURCE)
    return Verdict(Level.FAIL, f"{result.message}; {why}", threshold=expectation,
                   source=PROBE_SOURCE, evidence=result.replies)  # fmt: skip
