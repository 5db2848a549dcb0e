""" "table full, dropping packet" in the kernel log (checks guide: kernel-log)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctdiag.assess import remedies
from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.outputs import OutputName, Snapshot
from ctdiag.model.verdict import Level, Verdict
from ctdiag.parse.kernel_log import KernelLogFindings, TableFullMessage

_MONOTONIC = re.compile(r"\s*(\d+\.\d+)\s*")
SOURCE = (
    "kernel: logged only when early drop also failed, i.e. new flows were dropped "
    "(kernel net/netfilter/nf_conntrack_core.c; ctdiag/checks/README.md#kernel-log)"
)


def parse_uptime(text: str) -> float | None:
    """Seconds since boot from ``/proc/uptime`` (``1522.89 2095.27``)."""
    first = text.split()[:1]
    try:
        return float(first[0]) if first else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class NodeNamespace:
    """The node's network namespace, as far as the kernel log needs it.

    Attributes:
        inode: what "table full in netns N" lines call it.
        created_at: epoch seconds of its creation, known only for named (``ip netns``)
            namespaces, whose bind mount pins the inode that carries the time.
    """

    inode: int | None
    created_at: float | None = None


def parse_namespace(stat_text: str, name_text: str) -> NodeNamespace:
    """From ``stat -L -c '%i %Y' /proc/self/ns/net`` and ``ip netns identify`` outputs."""
    fields = stat_text.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        return NodeNamespace(None)
    named = bool(name_text.strip())
    return NodeNamespace(int(fields[0]), float(fields[1]) if named else None)


def _age(message: TableFullMessage, uptime_s: float | None) -> float | None:
    """Seconds between the line and the collection; ``None`` when it cannot be told."""
    if uptime_s is None or message.timestamp is None:
        return None
    match = _MONOTONIC.fullmatch(message.timestamp)
    return max(0.0, uptime_s - float(match.group(1))) if match else None


def table_full(
    findings: KernelLogFindings,
    thresholds: Thresholds,
    *,
    uptime_s: float | None,
    namespace: NodeNamespace,
    collected_at: float,
) -> Verdict:
    """Recent "table full" lines fail, older ones warn; other namespaces' lines are ignored.

    Args:
        findings: the parsed kernel log (host-wide: it is not per namespace).
        thresholds: ``kernel_log_seconds`` is "recent".
        uptime_s: seconds since boot at collection, to age ``dmesg`` timestamps.
        namespace: this node's namespace; lines naming another, and lines older than it (when
            its creation time is known), are not ours.
        collected_at: epoch seconds of the collection.
    """
    namespace_age = (
        collected_at - namespace.created_at if namespace.created_at is not None else None
    )
    ours, others = [], 0
    for message in findings.table_full:
        age = _age(message, uptime_s)
        named_other = (
            message.netns is not None
            and namespace.inode is not None
            and message.netns != namespace.inode
        )
        # Whatever its wording, a line older than the namespace is about another one (or
        # about an earlier namespace that had the same inode).
        before_us = namespace_age is not None and age is not None and age > namespace_age
        if named_other or before_us:
            others += 1
        else:
            ours.append((message, age))
    window = thresholds.kernel_log_seconds
    recent = [m for m, age in ours if age is None or age <= window]
    older = [m for m, _ in ours]
    suppressed = findings.suppressed_total
    note = f"; {others:,} lines are about other network namespaces" if others else ""
    if suppressed:
        note += f"; rate limiters suppressed {suppressed:,} messages"
    if recent:
        level, finding = Level.FAIL, f'{len(recent):,} recent "table full, dropping packet" lines'
    elif older:
        level, finding = (
            Level.WARN,
            (f'{len(older):,} "table full, dropping packet" lines, all older than {window:,} s'),
        )
    else:
        level, finding = Level.PASS, 'no "table full, dropping packet" line'
    shown = recent or older
    return Verdict(
        level,
        f"{finding} in the kernel log ({findings.lines_read:,} lines read{note})",
        threshold=f"fail on lines younger than {window:,} s, warn on older ones",
        source=f"{SOURCE}; recent: {thresholds.source('kernel_log_seconds')}",
        remedy=remedies.RAISE_MAX if level is not Level.PASS else None,
        evidence=tuple(m.text for m in shown[: thresholds.evidence_limit]),
        evidence_total=len(shown),
        figures=(
            ("table_full_lines", float(len(older))),
            ("table_full_recent", float(len(recent))),
        ),
    )


def node_context(snapshot: Snapshot) -> tuple[float | None, NodeNamespace]:
    """Seconds since boot and the node's namespace, from a snapshot (``None`` if missing)."""
    return parse_uptime(snapshot.text_if_ok(OutputName.UPTIME)), parse_namespace(
        snapshot.text_if_ok(OutputName.NETNS), snapshot.text_if_ok(OutputName.NETNS_NAME)
    )
