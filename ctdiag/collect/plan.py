"""What to run on a node, as argv lists: pure, shared by local, netns and debug-pod collection.

The plan depends on one fact learnt on the node, the conntrack-tools version (``None`` when
the CLI is missing): the CLI is preferred for entries, counters and the count; without it
``/proc`` is read. Tools 1.4.7 and later list both address families in one ``-L``; older
ones list IPv4 only unless asked, so both families are listed separately there (formats doc
section 9.4; 1.4.5 lists both but ignores ``-f``, so it gets one call too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ctdiag.model.outputs import EntrySource, OutputName

#: Nodes collected at once (``--max-parallel``); the sampling window holds none of them.
DEFAULT_MAX_PARALLEL = 10
#: Seconds any small command may take; listings get :data:`LISTING_TIMEOUT`.
COMMAND_TIMEOUT = 20.0
#: A 1M-entry table lists in about 4 s here; leave room for slow, busy nodes.
LISTING_TIMEOUT = 300.0

_VERSION = re.compile(r"conntrack v(\d+(?:\.\d+)+)")

#: sysctls read in one ``sysctl -e`` call: every conntrack tunable, plus the keys that only
#: exist when a module is loaded (br_netfilter, IPVS); ``-e`` ignores the missing ones.
SYSCTL_KEYS = (
    "net.netfilter",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.vs.conntrack",
)


@dataclass(frozen=True, slots=True)
class NodeCommand:
    """One command of the plan.

    Attributes:
        name: the output name it is stored under in the snapshot.
        argv: the command, never a shell string.
        timeout: seconds before it is killed (an infrastructure error, not an output).
        required: collection fails when this command fails (the flow listing, ``uname``).
    """

    name: str
    argv: tuple[str, ...]
    timeout: float = COMMAND_TIMEOUT
    required: bool = False


VERSION_PROBE = NodeCommand(OutputName.CONNTRACK_VERSION, ("conntrack", "--version"))
UNAME = NodeCommand(OutputName.UNAME, ("uname", "-r"), required=True)


def parse_conntrack_version(text: str) -> str | None:
    """``1.4.7`` from ``conntrack --version`` output (``conntrack v1.4.7 (conntrack-tools)``)."""
    match = _VERSION.search(text)
    return match.group(1) if match else None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def entry_source(cli_version: str | None, probe_argv: tuple[str, ...] = ()) -> EntrySource:
    """Where the flow listing comes from, given the CLI version found (``None``: no CLI)
    and the argv that found it (a debug pod reaches the host's CLI through ``chroot``)."""
    if cli_version is None:
        return EntrySource.PROC
    return EntrySource.HOST_CLI if probe_argv[:1] == ("chroot",) else EntrySource.CONNTRACK_CLI


def listing_commands(cli_version: str | None) -> tuple[NodeCommand, ...]:
    """The command(s) that list every flow of both address families."""
    if cli_version is None:
        return (
            NodeCommand(
                OutputName.ENTRIES, ("cat", "/proc/net/nf_conntrack"), LISTING_TIMEOUT, True
            ),
        )
    listing = ("conntrack", "-L", "-o", "extended")
    version = _version_tuple(cli_version)
    if version >= (1, 4, 7) or version[:3] == (1, 4, 5):
        return (NodeCommand(OutputName.ENTRIES, listing, LISTING_TIMEOUT, True),)
    return (
        NodeCommand(OutputName.ENTRIES, (*listing, "-f", "ipv4"), LISTING_TIMEOUT, True),
        NodeCommand(OutputName.ENTRIES_IPV6, (*listing, "-f", "ipv6"), LISTING_TIMEOUT, True),
    )


def counter_commands(cli_version: str | None) -> tuple[NodeCommand, ...]:
    """Count and statistics: read at both ends of the sampling window."""
    count = (
        ("conntrack", "-C")
        if cli_version is not None
        else ("cat", "/proc/sys/net/netfilter/nf_conntrack_count")
    )
    commands = [NodeCommand(OutputName.UPTIME, ("cat", "/proc/uptime"))]
    commands.append(NodeCommand(OutputName.COUNT, count))
    if cli_version is not None:
        commands.append(NodeCommand(OutputName.STATS, ("conntrack", "-S")))
    commands.append(NodeCommand(OutputName.STATS_PROC, ("cat", "/proc/net/stat/nf_conntrack")))
    return tuple(commands)


def context_commands() -> tuple[NodeCommand, ...]:
    """Everything read once: tunables, kernel log, rules, links, addresses and routes, slab
    sizes, netns id."""
    return (
        NodeCommand(OutputName.SYSCTL, ("sysctl", "-e", *SYSCTL_KEYS)),
        # "table full in netns N" lines name the namespace inode, which the kernel reuses:
        # a line older than a named (ip netns) namespace is not about it. Its inode's mtime
        # is its creation time only while a bind mount pins it, i.e. when it has a name.
        NodeCommand(OutputName.NETNS, ("stat", "-L", "-c", "%i %Y", "/proc/self/ns/net")),
        NodeCommand(OutputName.NETNS_NAME, ("ip", "netns", "identify")),
        NodeCommand(OutputName.KERNEL_LOG, ("dmesg",)),
        NodeCommand(OutputName.RULES_RAW, ("iptables-save", "-t", "raw")),
        NodeCommand(OutputName.RULES_NAT, ("iptables-save", "-t", "nat")),
        NodeCommand(OutputName.RULES_FILTER, ("iptables-save", "-t", "filter")),
        NodeCommand(OutputName.RULES6_RAW, ("ip6tables-save", "-t", "raw")),
        # IPv6 Services: kube-proxy programs them in ip6tables (dual-stack, IPv6 clusters).
        NodeCommand(OutputName.RULES6_NAT, ("ip6tables-save", "-t", "nat")),
        NodeCommand(OutputName.NFT_RULESET, ("nft", "list", "ruleset")),
        NodeCommand(OutputName.LINKS, ("ip", "-d", "-o", "link", "show")),
        # The node's own addresses: an untranslated entry to a NodePort counts only on them.
        NodeCommand(OutputName.ADDRESSES, ("ip", "-o", "addr", "show")),
        # Its routes (ip route shows one family at a time): --probe only targets the pods
        # and Services the node routes (ctdiag.probes.routed).
        NodeCommand(OutputName.ROUTES, ("ip", "-o", "route", "show")),
        NodeCommand(OutputName.ROUTES6, ("ip", "-o", "-6", "route", "show")),
        NodeCommand(OutputName.SLABINFO, ("cat", "/proc/slabinfo")),
    )


def snapshot_plan(cli_version: str | None) -> tuple[NodeCommand, ...]:
    """The full first snapshot, listing first (the others run beside it)."""
    return (
        *listing_commands(cli_version),
        UNAME,
        *counter_commands(cli_version),
        *context_commands(),
    )


def followup_plan(cli_version: str | None) -> tuple[NodeCommand, ...]:
    """The second snapshot at the end of the sampling window: counters only."""
    return (UNAME, *counter_commands(cli_version))
