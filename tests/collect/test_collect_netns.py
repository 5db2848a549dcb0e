"""Collection against real kernel state: flows made in scratch namespaces, then collected.

A ``node`` namespace gets conntrack rules (so its hooks register), a raw, a nat (DNAT) and a
filter rule, and a veth link to a ``peer`` namespace. Known flows are made in both, by short
bounded helper programs; then the node is collected through the conntrack CLI and, with
that CLI hidden, through ``/proc``, and everything collected is compared with what was made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctdiag.analyze.node_state import NodeState
from ctdiag.collect.collector import collect_sample, collect_snapshot
from ctdiag.collect.plan import VERSION_PROBE
from ctdiag.collect.runners import CommandRunner, LocalRunner, NetnsRunner
from ctdiag.collect.store.snapshot_dir import load, save
from ctdiag.errors import CollectionError
from ctdiag.model.entries import ConntrackEntry, Family, FlowTuple
from ctdiag.model.outputs import CommandOutput, EntrySource, OutputName, Snapshot
from ctdiag.model.samples import NodeSample
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.sysctl import Tunable
from tests.collect.scratch_netns import ScratchNamespaces

pytestmark = pytest.mark.needs_root

WINDOW_S = 0.5
NODE4, PEER4, SERVICE4 = "192.0.2.1", "192.0.2.2", "198.51.100.7"
NODE6, PEER6, SERVICE6 = "2001:db8::1", "2001:db8::2", "2001:db8:100::7"
INVALID_PACKETS = 50
ABSENT_CONNTRACK = "/nonexistent/ctdiag-test/conntrack"

#: Run inside a namespace as ``python -c TRAFFIC OPS_JSON``; every wait has a timeout.
TRAFFIC = """
import json, socket, struct, sys
TIMEOUT = 5.0

def bound(family, kind, addr, port):
    s = socket.socket(family, kind)
    s.settimeout(TIMEOUT)
    s.bind((addr, port))
    return s

def udp_echo(family, addr, client_port, server_port):
    server = bound(family, socket.SOCK_DGRAM, addr, server_port)
    client = bound(family, socket.SOCK_DGRAM, addr, client_port)
    client.sendto(b"ping", (addr, server_port))
    _, peer = server.recvfrom(16)
    server.sendto(b"pong", peer)
    assert client.recvfrom(16)[0] == b"pong"

def udp_unanswered(family, src, sport, dst, dport):
    # Connected: the ICMP port unreachable coming back proves the datagram arrived.
    s = bound(family, socket.SOCK_DGRAM, src, sport)
    s.connect((dst, dport))
    s.send(b"ping")
    try:
        s.recv(16)
    except ConnectionRefusedError:
        return
    raise AssertionError("a closed port answered")

def tcp(family, addr, client_port, server_port, connect_to):
    listener = bound(family, socket.SOCK_STREAM, addr, server_port)
    listener.listen(1)
    client = bound(family, socket.SOCK_STREAM, addr, client_port)
    client.connect(tuple(connect_to) if connect_to else (addr, server_port))
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT)
    client.sendall(b"ping")
    assert conn.recv(16) == b"ping"
    conn.sendall(b"pong")
    assert client.recv(16) == b"pong"
    client.close()  # then the server: FIN both ways, the entry ends in TIME_WAIT
    assert conn.recv(16) == b""
    conn.close()

def invalid(dst, dport, count):
    # SYN+FIN: an impossible flag pair conntrack counts as invalid, creating no entry.
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    for i in range(count):
        s.sendto(struct.pack("!HHIIBBHHH", 30000 + i, dport, 1, 0, 5 << 4, 3, 65535, 0, 0),
                 (dst, 0))

for name, *args in json.loads(sys.argv[1]):
    globals()[name](*args)
"""


Ends = tuple[str, str, int | None, int | None]


@dataclass(frozen=True, slots=True)
class Flow:
    """What identifies a flow: family, protocol and both tuples (src, dst, sport, dport)."""

    family: Family
    proto: str
    orig: Ends
    reply: Ends

    @classmethod
    def of(cls, entry: ConntrackEntry) -> Flow:
        def ends(t: FlowTuple) -> Ends:
            return (t.src, t.dst, t.sport, t.dport)

        return cls(entry.family, entry.proto, ends(entry.orig), ends(entry.reply))


def _plain(family: Family, proto: str, src: str, sport: int, dst: str, dport: int) -> Flow:
    return Flow(family, proto, (src, dst, sport, dport), (dst, src, dport, sport))


V4, V6 = Family.IPV4, Family.IPV6
#: (state, UNREPLIED?) of the flows made.
UDP_REPLIED, UDP_UNREPLIED, TCP_CLOSED = (None, False), (None, True), ("TIME_WAIT", False)
#: Every flow in the node's table, with the state and UNREPLIED flag each must show.
NODE_FLOWS: dict[Flow, tuple[str | None, bool]] = {
    _plain(V4, "udp", "127.0.0.1", 40001, "127.0.0.1", 40002): UDP_REPLIED,
    _plain(V6, "udp", "::1", 40001, "::1", 40002): UDP_REPLIED,
    _plain(V4, "tcp", "127.0.0.1", 40011, "127.0.0.1", 40010): TCP_CLOSED,
    _plain(V6, "tcp", "::1", 40011, "::1", 40010): TCP_CLOSED,
    # A Service: 198.51.100.7:80 DNAT'd to the node's own 192.0.2.1:40020.
    Flow(V4, "tcp", (NODE4, SERVICE4, 40021, 80), (NODE4, NODE4, 40020, 40021)): TCP_CLOSED,
    _plain(V4, "udp", PEER4, 40031, NODE4, 40030): UDP_UNREPLIED,
    _plain(V6, "udp", PEER6, 40031, NODE6, 40030): UDP_UNREPLIED,
}
#: A flow only in the peer's own table.
PEER_FLOW = _plain(V4, "udp", "127.0.0.1", 40041, "127.0.0.1", 40042)

#: Registers conntrack's hooks in a namespace (a raw-table ACCEPT alone does not).
TRACK = "-m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT"
#: (tool, table, rule as iptables-save prints it), installed in the node.
RULES = (
    ("iptables", "filter", f"-A INPUT {TRACK}"),
    ("iptables", "filter", f"-A OUTPUT {TRACK}"),
    ("iptables", "raw", "-A PREROUTING -p udp -m udp --dport 49999 -m comment --comment"
                        " ctdtest-raw -j CT --notrack"),
    ("iptables", "nat", f"-A OUTPUT -d {SERVICE4}/32 -p tcp -m tcp --dport 80 -m comment"
                        f" --comment ctdtest-dnat -j DNAT --to-destination {NODE4}:40020"),
    ("ip6tables", "filter", f"-A INPUT {TRACK}"),
    ("ip6tables", "filter", f"-A OUTPUT {TRACK}"),
    ("ip6tables", "raw", "-A PREROUTING -p udp -m udp --dport 49999 -m comment --comment"
                         " ctdtest-raw6 -j CT --notrack"),
    ("ip6tables", "nat", f"-A OUTPUT -d {SERVICE6}/128 -p tcp -m tcp --dport 80 -m comment"
                         f" --comment ctdtest-dnat6 -j DNAT --to-destination [{NODE6}]:40020"),
)  # fmt: skip
#: The output each (tool, table) is collected under; ip6tables' filter table is not read.
RULE_OUTPUTS = {
    ("iptables", "filter"): OutputName.RULES_FILTER,
    ("iptables", "raw"): OutputName.RULES_RAW,
    ("iptables", "nat"): OutputName.RULES_NAT,
    ("ip6tables", "raw"): OutputName.RULES6_RAW,
    ("ip6tables", "nat"): OutputName.RULES6_NAT,
}


@dataclass(frozen=True, slots=True)
class Collected:
    """The scratch namespaces, and the node sampled through the CLI and through /proc."""

    node: str
    peer: str
    marker: str
    cli: NodeSample
    proc: NodeSample
    hidden: tuple[tuple[str, ...], ...]


def _traffic(scratch: ScratchNamespaces, namespace: str, *ops: Sequence[object]) -> None:
    scratch.exec(namespace, sys.executable, "-c", TRAFFIC, json.dumps(ops), timeout=20)


class WithoutConntrackCli:
    """A real runner on a node where conntrack-tools is not installed.

    Every other command runs for real; ``conntrack`` reaches the runner's own missing-program
    path (through a path that cannot exist) and is recorded under the argv it was asked for.
    """

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self.hidden: list[tuple[str, ...]] = []

    @property
    def node(self) -> str:
        return self.runner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        if argv[0] != "conntrack":
            return self.runner.run(name, argv, timeout=timeout)
        self.hidden.append(tuple(argv))
        output = self.runner.run(name, (ABSENT_CONNTRACK, *argv[1:]), timeout=timeout)
        return dataclasses.replace(output, argv=tuple(argv))


class ReportingVersion:
    """The real conntrack CLI, answering the version probe with an older version.

    The plan for tools that list one family per call then runs for real (1.4.7 honours
    ``-f`` just as 1.4.6 does).
    """

    def __init__(self, runner: CommandRunner, version: str) -> None:
        self.runner = runner
        self.version = version

    @property
    def node(self) -> str:
        return self.runner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        output = self.runner.run(name, argv, timeout=timeout)
        if tuple(argv) != VERSION_PROBE.argv:
            return output
        stdout = re.sub(rb"v[0-9.]+", b"v" + self.version.encode(), output.stdout)
        return dataclasses.replace(output, stdout=stdout)


class FailingListing:
    """A real runner whose flow listing fails: a real failing read runs in its place."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    @property
    def node(self) -> str:
        return self.runner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        if name != OutputName.ENTRIES:
            return self.runner.run(name, argv, timeout=timeout)
        output = self.runner.run(name, ("cat", "/proc/net/ctdiag-test-absent"), timeout=timeout)
        return dataclasses.replace(output, argv=tuple(argv))


def _setup(scratch: ScratchNamespaces) -> tuple[str, str]:
    node, peer = scratch.create("node"), scratch.create("peer")
    ip = scratch.run
    ip("ip", "-n", node, "link", "add", "ct0", "type", "veth", "peer", "name", "ct0", "netns", peer)
    for ns, v4, v6 in ((node, NODE4, NODE6), (peer, PEER4, PEER6)):
        ip("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", "ct0")
        ip("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", "ct0", "nodad")
        ip("ip", "-n", ns, "link", "set", "ct0", "up")
    ip("ip", "-n", node, "route", "add", "198.51.100.0/24", "via", PEER4)
    for tool, table, rule in RULES:
        scratch.exec(node, tool, "-t", table, *rule.split())
    scratch.exec(peer, "iptables", *f"-A OUTPUT {TRACK}".split())
    return node, peer


def _invalid_then_sleep(scratch: ScratchNamespaces, node: str) -> Callable[[float], None]:
    """A window "sleep" that first sends :data:`INVALID_PACKETS` invalid packets in ``node``."""

    def sleep(seconds: float) -> None:
        start = time.monotonic()
        _traffic(scratch, node, ("invalid", "127.0.0.1", 40099, INVALID_PACKETS))
        time.sleep(max(0.0, seconds - (time.monotonic() - start)))

    return sleep


@pytest.fixture(scope="module")
def collected(scratch_namespaces: ScratchNamespaces) -> Collected:
    scratch = scratch_namespaces
    node, peer = _setup(scratch)
    _traffic(
        scratch,
        node,
        ("udp_echo", socket.AF_INET, "127.0.0.1", 40001, 40002),
        ("udp_echo", socket.AF_INET6, "::1", 40001, 40002),
        ("tcp", socket.AF_INET, "127.0.0.1", 40011, 40010, None),
        ("tcp", socket.AF_INET6, "::1", 40011, 40010, None),
        ("tcp", socket.AF_INET, NODE4, 40021, 40020, [SERVICE4, 80]),
    )
    _traffic(
        scratch,
        peer,
        ("udp_unanswered", socket.AF_INET, PEER4, 40031, NODE4, 40030),
        ("udp_unanswered", socket.AF_INET6, PEER6, 40031, NODE6, 40030),
        ("udp_echo", socket.AF_INET, "127.0.0.1", 40041, 40042),
    )
    marker = f"ctdiag-test: kernel log marker {node} {time.time_ns()}"
    Path("/dev/kmsg").write_text(marker + "\n")
    sleep = _invalid_then_sleep(scratch, node)
    cli = collect_sample(NetnsRunner(node), window_s=WINDOW_S, sleep=sleep)
    hiding = WithoutConntrackCli(NetnsRunner(node))
    proc = collect_sample(hiding, window_s=WINDOW_S, sleep=sleep)
    return Collected(node, peer, marker, cli, proc, tuple(hiding.hidden))


def _netns_inode(snapshot: Snapshot) -> int:
    """The namespace inode the ``netns`` output names (``net:[N]`` or ``N MTIME``)."""
    text = snapshot.require(OutputName.NETNS).text
    match = re.match(r"(?:net:\[)?(\d+)", text.strip())
    assert match, f"netns output {text!r}"
    return int(match[1])


def _flows(inspection: NodeState) -> dict[Flow, ConntrackEntry]:
    return {Flow.of(entry): entry for entry in inspection.table}


@pytest.fixture(params=["cli", "proc"])
def sample(request: pytest.FixtureRequest, collected: Collected) -> NodeSample:
    return collected.cli if request.param == "cli" else collected.proc


def test_cli_snapshot_says_where_it_came_from(collected: Collected) -> None:
    snapshot = collected.cli.before
    probe = LocalRunner().run("probe", ("conntrack", "--version"), timeout=10)
    assert re.fullmatch(r"\d+\.\d+\.\d+", snapshot.conntrack_version or "")
    assert snapshot.conntrack_version in probe.text
    assert snapshot.entry_source is EntrySource.CONNTRACK_CLI
    assert snapshot.node == collected.node
    assert snapshot.kernel_release == os.uname().release
    assert snapshot.require(OutputName.ENTRIES).argv == ("conntrack", "-L", "-o", "extended")
    assert snapshot.require(OutputName.COUNT).argv == ("conntrack", "-C")
    assert snapshot.require(OutputName.STATS).ok


def test_proc_snapshot_when_the_cli_is_missing(collected: Collected) -> None:
    snapshot = collected.proc.before
    assert snapshot.conntrack_version is None
    assert snapshot.entry_source is EntrySource.PROC
    probe = snapshot.get(OutputName.CONNTRACK_VERSION)
    assert probe is not None and probe.exit_status == 127
    assert snapshot.require(OutputName.ENTRIES).argv == ("cat", "/proc/net/nf_conntrack")
    count_argv = ("cat", "/proc/sys/net/netfilter/nf_conntrack_count")
    assert snapshot.require(OutputName.COUNT).argv == count_argv
    assert snapshot.get(OutputName.STATS) is None
    # Once the probe found no CLI, the collector never asked for it again.
    assert collected.hidden == (("conntrack", "--version"),)
    assert snapshot.kernel_release == os.uname().release


def test_table_holds_exactly_the_flows_made(sample: NodeSample) -> None:
    flows = _flows(NodeState(sample))
    assert set(flows) == set(NODE_FLOWS)
    for flow, (state, unreplied) in NODE_FLOWS.items():
        entry = flows[flow]
        assert entry.state == state, flow
        assert ("UNREPLIED" in entry.flags) == unreplied, flow
        if flow.proto == "tcp":
            assert "ASSURED" in entry.flags, flow


def test_table_parses_cleanly(sample: NodeSample) -> None:
    table = NodeState(sample).table
    assert not table.diagnostics.malformed
    trailer = table.diagnostics.trailer
    if sample.before.entry_source is EntrySource.CONNTRACK_CLI:
        assert trailer is not None and trailer.count == len(table) == len(NODE_FLOWS)
    else:
        assert trailer is None


def test_summary_counts_the_flows_made(sample: NodeSample) -> None:
    summary = NodeState(sample).summary
    assert summary.entries == len(NODE_FLOWS)
    assert summary.by_family == {"ipv4": 4, "ipv6": 3}
    assert summary.by_protocol == {"tcp": 3, "udp": 4}
    assert summary.unreplied == 2
    assert summary.dnat == 1
    (group,) = summary.dnat_groups
    assert (group.orig_dst, group.orig_dport) == (SERVICE4, 80)
    assert (group.reply_src, group.reply_sport) == (NODE4, 40020)


def test_limits_agree_with_the_listing(sample: NodeSample) -> None:
    inspection = NodeState(sample)
    limits = inspection.limits
    assert limits.count == len(inspection.table) == len(NODE_FLOWS)
    sysctl = Path("/proc/sys/net/netfilter")
    assert limits.max == int((sysctl / "nf_conntrack_max").read_text())
    assert limits.buckets == int((sysctl / "nf_conntrack_buckets").read_text())
    assert inspection.tunables.get_int(Tunable.MAX) == limits.max
    assert inspection.tunables.get_int(Tunable.COUNT) == len(NODE_FLOWS)


def test_stats_and_rates_over_the_window(sample: NodeSample) -> None:
    inspection = NodeState(sample)
    stats = inspection.stats
    assert stats.complete
    # Every possible CPU has its row, in every namespace.
    rows = len(Path("/proc/net/stat/nf_conntrack").read_text().splitlines()) - 1
    assert len(stats.cpus) == rows
    assert stats.has("invalid")
    rates = inspection.rates
    assert rates is not None
    assert WINDOW_S <= rates.interval_s < WINDOW_S + 1.0
    # Each invalid packet is counted on its way out and again on its way in over lo.
    delta = rates.delta("invalid")
    assert delta is not None and delta >= INVALID_PACKETS
    assert rates["invalid"] == pytest.approx(delta / rates.interval_s)
    assert rates.delta("drop") == 0


def test_rules_collected_are_the_rules_installed(sample: NodeSample) -> None:
    snapshot = sample.before
    for tool, table, rule in RULES:
        name = RULE_OUTPUTS.get((tool, table))
        if name is not None:
            assert rule in snapshot.require(name).text.splitlines(), (name, rule)
    ruleset = snapshot.require(OutputName.NFT_RULESET).text
    for text in (
        "table ip nat",
        "table ip6 raw",
        f"ip daddr {SERVICE4} tcp dport 80",
        f"dnat to {NODE4}:40020",
        "ct state new,established",
    ):
        assert text in ruleset


def test_context_outputs_describe_the_namespace(sample: NodeSample, collected: Collected) -> None:
    snapshot = sample.before
    inode = os.stat(f"/run/netns/{collected.node}").st_ino
    assert _netns_inode(snapshot) == inode
    named = snapshot.get("netns_name")  # ip netns identify, where the plan asks for it
    assert named is None or named.text.strip() == collected.node
    assert collected.marker in snapshot.require(OutputName.KERNEL_LOG).text
    assert NodeState(sample).kernel_log is not None
    links = snapshot.require(OutputName.LINKS).text
    assert "ct0@" in links and "veth" in links
    uptime = float(snapshot.require(OutputName.UPTIME).text.split()[0])
    assert uptime == pytest.approx(float(Path("/proc/uptime").read_text().split()[0]), abs=60)


def test_followup_holds_counters_only(sample: NodeSample) -> None:
    assert sample.after is not None
    names = set(sample.after.names)
    assert not any(name.startswith(OutputName.ENTRIES) for name in names)
    assert {OutputName.COUNT, OutputName.STATS_PROC, OutputName.UNAME} <= names
    assert sample.after.entry_source is sample.before.entry_source


def test_each_namespace_has_its_own_table(collected: Collected) -> None:
    peer = _flows(NodeState(NodeSample(collect_snapshot(NetnsRunner(collected.peer)))))
    assert PEER_FLOW in peer
    assert PEER_FLOW not in _flows(NodeState(collected.cli))
    lo_flows = {f for f in NODE_FLOWS if f.orig[0] in {"127.0.0.1", "::1"}}
    assert not lo_flows & set(peer)


def test_local_collection_reads_this_namespace(collected: Collected) -> None:
    snapshot = collect_snapshot(LocalRunner())
    assert snapshot.node == socket.gethostname()
    assert _netns_inode(snapshot) == os.stat("/proc/self/ns/net").st_ino
    assert snapshot.kernel_release == os.uname().release
    assert not set(NODE_FLOWS) & set(_flows(NodeState(NodeSample(snapshot))))


def test_old_tools_list_each_family_separately(collected: Collected) -> None:
    snapshot = collect_snapshot(ReportingVersion(NetnsRunner(collected.node), "1.4.6"))
    assert snapshot.conntrack_version == "1.4.6"
    assert snapshot.entry_source is EntrySource.CONNTRACK_CLI
    listing = ("conntrack", "-L", "-o", "extended")
    by_family = {
        V4: snapshot.require(OutputName.ENTRIES),
        V6: snapshot.require(OutputName.ENTRIES_IPV6),
    }
    assert by_family[V4].argv == (*listing, "-f", "ipv4")
    assert by_family[V6].argv == (*listing, "-f", "ipv6")
    for family, output in by_family.items():
        listed = {Flow.of(e) for e in parse_listing(output.stdout + output.stderr)}
        assert listed == {flow for flow in NODE_FLOWS if flow.family is family}
    table = NodeState(NodeSample(snapshot)).table
    assert {Flow.of(entry) for entry in table} == set(NODE_FLOWS)
    # Two trailers, one per call: their counts add up to the entries read.
    assert table.diagnostics.notices == ()
    assert not table.diagnostics.malformed


def test_failing_listing_stops_collection(collected: Collected) -> None:
    with pytest.raises(CollectionError) as caught:
        collect_snapshot(FailingListing(NetnsRunner(collected.node)))
    assert caught.value.node == collected.node
    assert caught.value.command == ("conntrack", "-L", "-o", "extended")
    message = str(caught.value)
    assert message.startswith(f"{collected.node}: entries exited 1: ")
    assert "No such file or directory" in message
    assert message.endswith("[conntrack -L -o extended]")


def test_snapshot_round_trip(sample: NodeSample, tmp_path: Path) -> None:
    assert sample.after is not None
    before = load(save(sample.before, tmp_path / "before"))
    after = load(save(sample.after, tmp_path / "after"))
    assert before == sample.before
    original, loaded = NodeState(sample), NodeState(NodeSample(before, after))
    assert len(loaded.table) == len(original.table) == len(NODE_FLOWS)
    assert loaded.summary == original.summary
    assert set(_flows(loaded)) == set(NODE_FLOWS)
    assert loaded.limits == original.limits
    assert loaded.rates == original.rates


def test_namespace_gone_during_collection(scratch_namespaces: ScratchNamespaces) -> None:
    name = scratch_namespaces.create("vanishing")
    runner = NetnsRunner(name)
    scratch_namespaces.run("ip", "netns", "delete", name)
    with pytest.raises(CollectionError) as caught:
        collect_snapshot(runner)
    assert caught.value.node == name
    assert f'Cannot open network namespace "{name}"' in str(caught.value)
