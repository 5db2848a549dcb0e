"""Synthetic node samples for the report tests, in the formats the real commands print.

``HOSTILE`` strings are what an attacker controlling a node (or a pod's labels, a
namespace's name) could put in front of the report; every test that renders HTML feeds
them in and checks they come out escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from ctdiag.analyze.node_state import NodeState
from ctdiag.model.outputs import CommandOutput, EntrySource, OutputName, Snapshot
from ctdiag.model.samples import NodeSample

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
HOSTILE = (SCRIPT, ATTRIBUTE)
T0 = datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)

FLOWS = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.9 dst=10.96.0.10 sport=41000 "
    "dport=80 src=10.244.1.7 dst=10.244.1.9 sport=8080 dport=41000 [ASSURED] mark=0 use=1\n"
    "ipv4     2 udp      17 25 src=10.244.1.9 dst=10.96.0.53 sport=40000 dport=53 "
    "[UNREPLIED] src=10.96.0.53 dst=10.244.1.9 sport=53 dport=40000 mark=0 use=1\n"
    "ipv6     10 tcp      6 100 SYN_SENT src=fd00:10::9 dst=fd00:96::1 sport=42000 dport=443 "
    "[UNREPLIED] src=fd00:96::1 dst=fd00:10::9 sport=443 dport=42000 mark=0 zone=7 use=1\n"
)
#: Entries with hostile secctx, helper and labels, as conntrack prints them (no spaces).
HOSTILE_FLOWS = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.244.1.9 dst=10.96.0.10 sport=41001 "
    f"dport=80 src=10.244.1.7 dst=10.244.1.9 sport=8080 dport=41001 [ASSURED] mark=0 "
    f"secctx={SCRIPT} helper={SCRIPT} use=1 labels={SCRIPT}\n"
    f"ipv4     2 udp      17 25 src=10.244.1.9 dst=10.96.0.53 {ATTRIBUTE}\n"
)
SYSCTL = {
    "net.netfilter.nf_conntrack_buckets": "65536",
    "net.netfilter.nf_conntrack_max": "262144",
    "net.netfilter.nf_conntrack_tcp_timeout_established": "86400",
}


def stats_text(values: Mapping[str, tuple[int, ...]]) -> str:
    """``conntrack -S`` (F7) for one row per CPU."""
    cpus = len(next(iter(values.values())))
    rows = []
    for cpu in range(cpus):
        pairs = " ".join(f"{name}={per_cpu[cpu]}" for name, per_cpu in values.items())
        rows.append(f"cpu={cpu}   \t{pairs} \n")
    return "".join(rows)


STATS = {"found": (10, 20), "invalid": (3, 4), "insert": (0, 0), "insert_failed": (1, 0),
         "drop": (0, 2), "early_drop": (0, 0), "error": (0, 0), "search_restart": (5, 5),
         "clash_resolve": (1, 1), "chaintoolong": (0, 0)}  # fmt: skip
STATS_LATER = {name: tuple(v + 10 for v in values) for name, values in STATS.items()}
PROC_STATS = (
    "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop "
    "early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
    "00000003  00000001 0000000a 00000000 00000003 0000002a 00000000 00000000 00000000 "
    "00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000005\n"
)


def output(name: str, argv: tuple[str, ...], stdout: str | bytes, *, stderr: str = "",
           exit_status: int = 0, at: datetime = T0) -> CommandOutput:  # fmt: skip
    data = stdout.encode() if isinstance(stdout, str) else stdout
    return CommandOutput(name, argv, exit_status, data, stderr.encode(), at, 0.01)


def snapshot(
    node: str,
    *,
    entries: str | bytes = FLOWS,
    count: int = 3,
    stats: Mapping[str, tuple[int, ...]] = STATS,
    kernel: str = "6.1.0-18-amd64",
    extra: Iterable[CommandOutput] = (),
    at: datetime = T0,
    full: bool = True,
) -> Snapshot:
    """A snapshot with the outputs the report reads (``full=False``: counters only)."""
    outputs = [
        output(OutputName.CONNTRACK_VERSION, ("conntrack", "--version"),
               "conntrack v1.4.7 (conntrack-tools)\n", at=at),
        output(OutputName.UNAME, ("uname", "-r"), kernel + "\n", at=at),
        output(OutputName.COUNT, ("conntrack", "-C"), f"{count}\n", at=at),
        output(OutputName.STATS, ("conntrack", "-S"), stats_text(stats), at=at),
        output(OutputName.STATS_PROC, ("cat", "/proc/net/stat/nf_conntrack"), PROC_STATS, at=at),
    ]  # fmt: skip
    if full:
        sysctl = "".join(f"{k} = {v}\n" for k, v in SYSCTL.items())
        outputs += [
            output(OutputName.ENTRIES, ("conntrack", "-L", "-o", "extended"), entries,
                   stderr="conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.\n",
                   at=at),
            output(OutputName.SYSCTL, ("sysctl", "-e", "net.netfilter"), sysctl, at=at),
            output(OutputName.KERNEL_LOG, ("dmesg",), "[ 1.0] nf_conntrack: table full, "
                   "dropping packet\n", at=at),
            *extra,
        ]  # fmt: skip
    return Snapshot(node, kernel, "1.4.7", at, EntrySource.CONNTRACK_CLI, tuple(outputs))


def node_state(node: str, *, window_s: float | None = 10.0, **kwargs: object) -> NodeState:
    """A node's state: a full snapshot, and the counters again ``window_s`` later."""
    first = snapshot(node, **kwargs)  # type: ignore[arg-type]
    if window_s is None:
        return NodeState(NodeSample(first))
    later = T0 + timedelta(seconds=window_s)
    after = snapshot(node, stats=STATS_LATER, at=later, full=False)
    return NodeState(NodeSample(first, after))


def hostile_node_state(node: str = SCRIPT) -> NodeState:
    """A node whose name, entries, kernel release, logs and outputs carry the payloads."""
    extra = (
        output("links", ("ip", "-o", "link"), f"1: {SCRIPT}: <LOOPBACK> {ATTRIBUTE}\n",
               stderr=f"warning: {ATTRIBUTE}\n"),
        output("rules_nat", ("iptables-save", "-t", "nat"), f"-A X -m comment --comment "
               f'"{SCRIPT}" -j ACCEPT\n', exit_status=1, stderr=SCRIPT),
    )  # fmt: skip
    return node_state(node, entries=FLOWS + HOSTILE_FLOWS, kernel=f"6.1 {SCRIPT}", extra=extra)
