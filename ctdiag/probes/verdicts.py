"""Judging probes from what the table showed (pure).

Every message is one line: what was sent, what was found, what was expected.
"""

from __future__ import annotations

from ctdiag.model.entries import ConntrackEntry
from ctdiag.model.probes import CraftedProbe, ProbeKind, ProbeLevel, ProbeResult, hostport


def _result(probe: CraftedProbe, level: ProbeLevel, message: str, *, sent: bool,
            entry: ConntrackEntry | None = None, invalid_delta: int | None = None,
            replies: tuple[str, ...] = ()) -> ProbeResult:  # fmt: skip
    translated = None if entry is None else hostport(entry.reply.src, entry.reply.sport)
    return ProbeResult(
        port_id=probe.port_id, kind=probe.kind, sent=sent, entry_found=entry is not None,
        translated_to=translated, reply_seen=entry is not None and not entry.unreplied,
        invalid_delta=invalid_delta, level=level, message=message, replies=replies,
    )  # fmt: skip


def _heard(replies: tuple[str, ...]) -> str:
    return f"; sender heard: {', '.join(replies)}" if replies else ""


def not_sent(probe: CraftedProbe, why: str) -> ProbeResult:
    """A probe that did not leave the node (a netfilter DROP in OUTPUT ...): FAIL."""
    expected = {
        ProbeKind.INVALID: "the invalid counter to rise",
        ProbeKind.UNREPLIED: "an [UNREPLIED] entry for that tuple",
    }.get(probe.kind, "DNAT to a ready endpoint and a reply")
    message = f"{probe.sent_text} not sent: {why}; no entry for that tuple; expected {expected}"
    return _result(probe, ProbeLevel.FAIL, message, sent=False)


def judge_service(
    probe: CraftedProbe, entry: ConntrackEntry | None, replies: tuple[str, ...] = ()
) -> ProbeResult:
    """PASS when the probe's entry exists, is DNAT'd to a ready endpoint and saw a reply."""
    ready = ", ".join(probe.endpoints) or "none"
    expected = f"expected DNAT to a ready endpoint ({ready}) and a reply"
    sent = f"sent {probe.sent_text}"
    if entry is None:
        return _result(probe, ProbeLevel.FAIL, f"{sent}; no entry for that tuple; {expected}",
                       sent=True, replies=replies)  # fmt: skip
    target = hostport(entry.reply.src, entry.reply.sport)
    if not entry.dnat:
        message = f"{sent}; entry found but not translated (reply from {target}); {expected}"
        return _result(probe, ProbeLevel.FAIL, message, sent=True, entry=entry, replies=replies)
    if target not in probe.endpoints:
        message = f"{sent}; translated to {target}, not a ready endpoint; {expected}"
        return _result(probe, ProbeLevel.FAIL, message, sent=True, entry=entry, replies=replies)
    if entry.unreplied:
        message = f"{sent}; translated to {target} but [UNREPLIED]{_heard(replies)}; {expected}"
        return _result(probe, ProbeLevel.FAIL, message, sent=True, entry=entry, replies=replies)
    state = f" {entry.state}" if entry.state else ""
    message = f"{sent}; translated to {target}, reply seen{state}{_heard(replies)}"
    return _result(probe, ProbeLevel.PASS, message, sent=True, entry=entry, replies=replies)


def judge_invalid(probe: CraftedProbe, before: int | None, after: int | None) -> ProbeResult:
    """PASS when the ``invalid`` counter rose while the SYN+RST was sent."""
    sent = f"sent {probe.sent_text}"
    if before is None or after is None:
        return _result(probe, ProbeLevel.SKIP, f"{sent}; the kernel reports no invalid counter",
                       sent=True)  # fmt: skip
    delta = (after - before) % (1 << 32)  # per-CPU u32 counters, summed: one wrap at most
    if delta > 0:
        message = f"{sent}; invalid counter rose by {delta} ({before} -> {after})"
        return _result(probe, ProbeLevel.PASS, message, sent=True, invalid_delta=delta)
    message = (
        f"{sent}; invalid counter unchanged at {after}; expected it to rise (conntrack did "
        "not see the packet: no hook registered, or the packet is not tracked)"
    )
    return _result(probe, ProbeLevel.FAIL, message, sent=True, invalid_delta=0)


def judge_unreplied(
    probe: CraftedProbe, entry: ConntrackEntry | None, replies: tuple[str, ...] = ()
) -> ProbeResult:
    """PASS when the probe left an ``[UNREPLIED]`` entry for its exact tuple."""
    sent = f"sent {probe.sent_text}"
    expected = "expected an [UNREPLIED] entry for that tuple"
    if entry is None:
        message = (f"{sent}; no entry for that tuple{_heard(replies)}; {expected} "
                   "(dropped before conntrack inserted it, or not tracked)")  # fmt: skip
        return _result(probe, ProbeLevel.FAIL, message, sent=True, replies=replies)
    if not entry.unreplied:
        target = hostport(entry.reply.src, entry.reply.sport)
        message = f"{sent}; entry saw a reply from {target}{_heard(replies)}; {expected}"
        return _result(probe, ProbeLevel.FAIL, message, sent=True, entry=entry, replies=replies)
    message = f"{sent}; [UNREPLIED] entry found{_heard(replies)}"
    return _result(probe, ProbeLevel.PASS, message, sent=True, entry=entry, replies=replies)


def refused(port_id: str, kind: ProbeKind, why: str) -> ProbeResult:
    """A Service port's probe refused before anything was sent (FAIL): its address is not a
    Service or pod address the cluster or node reports; ``why`` is the line of
    :func:`~ctdiag.probes.destinations.refusal`."""
    message = f"probe of {port_id} refused: {why}"
    return ProbeResult(port_id=port_id, kind=kind, sent=False, entry_found=False,
                       translated_to=None, reply_seen=False, invalid_delta=None,
                       level=ProbeLevel.FAIL, message=message)  # fmt: skip


def port_skipped(port_id: str, kind: ProbeKind, why: str) -> ProbeResult:
    """A probe that was not sent, and why (SKIP)."""
    what = port_id or f"{kind.value} self-test"
    return ProbeResult(port_id=port_id, kind=kind, sent=False, entry_found=False,
                       translated_to=None, reply_seen=False, invalid_delta=None,
                       level=ProbeLevel.SKIP, message=f"{what}: {why}")  # fmt: skip
