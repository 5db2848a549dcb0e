"""``ctdiag conntrack``'s core (``run_query``) against real kernel state in a scratch netns.

One namespace ``ctdtest-cq-<random>`` per module (deleted in the fixture's ``finally``, even
on failure) gets an nftables rule that needs conntrack (so its hooks register) and a zone
rule; a short bounded helper makes known IPv4 and IPv6 flows on loopback and exits. Each
query then runs through the node's CLI (``NetnsRunner``) and through ``/proc`` (the same
runner with ``conntrack`` missing, as in an image without it), and both must show the same
flows: the ones made for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from ctdiag.cli import conntrack as conntrack_command
from ctdiag.collect.query import QueryMode, parse_query
from ctdiag.collect.runners import NETNS_DIR, CommandRunner, NetnsRunner
from ctdiag.errors import CtdiagError
from ctdiag.model.entries import ConntrackEntry
from ctdiag.model.outputs import CommandOutput
from ctdiag.parse.entry_json import entry_to_json
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.stats import parse_conntrack_stats

pytestmark = pytest.mark.needs_root

SETUP_TIMEOUT = 15.0
ABSENT_CONNTRACK = "/nonexistent/ctdiag-test/conntrack"
V6 = "fd00:77::1"
RULES = """
table inet ctdtest {
    chain raw_out { type filter hook output priority raw; udp dport 7005 ct zone set 5; }
    chain out { type filter hook output priority filter; ct state new accept; }
}
"""
#: Run inside the namespace; every wait is bounded, and it exits when done (no process left).
TRAFFIC = f"""
import socket, struct
socket.setdefaulttimeout(5.0)
def bound(family, kind, addr, port):
    s = socket.socket(family, kind)
    s.bind((addr, port))
    return s
ENDS = ((socket.AF_INET, "127.0.0.1", "127.0.0.2"), (socket.AF_INET6, "::1", "{V6}"))
for family, src, dst in ENDS:
    listener = bound(family, socket.SOCK_STREAM, dst, 7001)
    listener.listen(1)
    client = bound(family, socket.SOCK_STREAM, src, 41001)
    client.connect((dst, 7001))
    conn, _ = listener.accept()
    client.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    server = bound(family, socket.SOCK_DGRAM, dst, 7002)
    udp = bound(family, socket.SOCK_DGRAM, src, 41002)
    udp.sendto(b"ping", (dst, 7002))
    _, peer = server.recvfrom(4)
    server.sendto(b"pong", peer)
    assert udp.recvfrom(4)[0] == b"pong"
    bound(family, socket.SOCK_DGRAM, src, 41005).sendto(b"zone", (dst, 7005))
total = sum(struct.unpack("!4H", struct.pack("!BBHHH", 8, 0, 0, 4242, 1)))
checksum = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
raw.sendto(struct.pack("!BBHHH", 8, 0, checksum, 4242, 1), ("127.0.0.2", 0))
raw.recv(64)
"""
#: The flows made, by (family, protonum, orig src, orig dst, orig sport, orig dport).
FLOWS = {
    "tcp4": ("ipv4", 6, "127.0.0.1", "127.0.0.2", 41001, 7001),
    "udp4": ("ipv4", 17, "127.0.0.1", "127.0.0.2", 41002, 7002),
    "udp4_zone5": ("ipv4", 17, "127.0.0.1", "127.0.0.2", 41005, 7005),
    "icmp4": ("ipv4", 1, "127.0.0.1", "127.0.0.2", None, None),
    "tcp6": ("ipv6", 6, "::1", V6, 41001, 7001),
    "udp6": ("ipv6", 17, "::1", V6, 41002, 7002),
    "udp6_zone5": ("ipv6", 17, "::1", V6, 41005, 7005),
}
NAMES = {key: name for name, key in FLOWS.items()}


def _setup(*argv: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"ctdtest-cq-{secrets.token_hex(4)}"
    _setup("ip", "netns", "add", name)
    try:
        _setup("ip", "-n", name, "link", "set", "lo", "up")
        _setup("ip", "-n", name, "address", "add", f"{V6}/128", "dev", "lo")
        _setup("ip", "netns", "exec", name, "nft", "-f", "-", stdin=RULES)
        _setup("ip", "netns", "exec", name, sys.executable, "-c", TRAFFIC)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], timeout=SETUP_TIMEOUT, check=False)
        assert not (NETNS_DIR / name).exists(), f"namespace {name} not deleted"


class NoCliRunner:
    """The node's runner as in an image without conntrack: that program is not found (127)."""

    def __init__(self, inner: CommandRunner) -> None:
        self.inner = inner

    @property
    def node(self) -> str:
        return self.inner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        if argv[0] == "conntrack":
            argv = (ABSENT_CONNTRACK, *argv[1:])
        return self.inner.run(name, argv, timeout=timeout)


class HostRoutedRunner:
    """Runs ``conntrack`` through ``chroot /``, and reports that argv, as the debug-pod runner
    does when the image lacks conntrack and the host's is used (``chroot /host conntrack``)."""

    def __init__(self, inner: CommandRunner) -> None:
        self.inner = inner

    @property
    def node(self) -> str:
        return self.inner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        if argv[0] == "conntrack":
            argv = ("chroot", "/", *argv)
        return self.inner.run(name, argv, timeout=timeout)


class RecordingRunner:
    """Delegates, and keeps every argv it was given (optionally adding words to listings)."""

    def __init__(self, inner: CommandRunner, *, listing_extra: tuple[str, ...] = ()) -> None:
        self.inner = inner
        self.calls: list[tuple[str, ...]] = []
        self.listing_extra = listing_extra

    @property
    def node(self) -> str:
        return self.inner.node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        assert isinstance(argv, tuple) and all(isinstance(word, str) for word in argv)
        if "-L" in argv:
            argv = (*argv, *self.listing_extra)
        self.calls.append(tuple(argv))
        return self.inner.run(name, argv, timeout=timeout)


class CorruptingRunner(RecordingRunner):
    """Appends a line no parser accepts to every listing, and garbles counts, as a damaged
    transport might."""

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        output = super().run(name, argv, timeout=timeout)
        if "-L" in argv or "/proc/net/nf_conntrack" in argv:
            return dataclasses.replace(output, stdout=output.stdout + b"ipv4     2 tcp      6 x\n")
        if "-C" in argv:
            return dataclasses.replace(output, stdout=b"12 entries?\n")
        return output


class IgnoresFamilyRunner(RecordingRunner):
    """Drops ``-f FAMILY`` from listings, as conntrack-tools 1.4.5 ignore it."""

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        if "-f" in argv:
            at = list(argv).index("-f")
            argv = (*argv[:at], *argv[at + 2 :])
        return super().run(name, argv, timeout=timeout)


@pytest.fixture(scope="module")
def cli(namespace: str) -> CommandRunner:
    return NetnsRunner(namespace)


@pytest.fixture(scope="module")
def proc(cli: CommandRunner) -> CommandRunner:
    return NoCliRunner(cli)


def _run(
    runner: CommandRunner, *, json_output: bool = False, **kwargs: Any
) -> tuple[int, str, str]:
    mode = kwargs.pop("mode", QueryMode.LIST)
    out, err = io.StringIO(), io.StringIO()
    status = conntrack_command.run_query(
        runner, parse_query(mode, **kwargs), out, err, json_output=json_output
    )
    return status, out.getvalue(), err.getvalue()


def _entries(stdout: str) -> list[ConntrackEntry]:
    table = parse_listing(stdout)
    assert not table.diagnostics.malformed and not table.diagnostics.notices
    assert len(table) == len(stdout.splitlines())  # nothing but entries on stdout
    return list(table)


def _names(entries: list[ConntrackEntry]) -> set[str]:
    keys = {
        (e.family.value, e.protonum, e.orig.src, e.orig.dst, e.orig.sport, e.orig.dport)
        for e in entries
    }
    return {NAMES.get(key, repr(key)) for key in keys}


def test_list_shows_both_families_and_keeps_stdout_clean(cli: CommandRunner) -> None:
    status, out, err = _run(cli)
    assert status == 0
    assert set(FLOWS) <= _names(_entries(out))
    assert all(line.startswith(("ipv4     2 ", "ipv6     10 ")) for line in out.splitlines())
    assert "conntrack v" not in out
    assert f"{cli.node}: conntrack v1.4.7 (conntrack-tools): " in err  # the trailer, on stderr


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"family": "ipv4"}, {"tcp4", "udp4", "udp4_zone5", "icmp4"}),
        ({"family": "ipv6"}, {"tcp6", "udp6", "udp6_zone5"}),
        ({"src": "::1"}, {"tcp6", "udp6", "udp6_zone5"}),
        ({"dst": "127.0.0.2"}, {"tcp4", "udp4", "udp4_zone5", "icmp4"}),
        ({"src": "127.0.0.2"}, set()),  # the replies' source: not the original direction
        ({"dst": "fd00:0077:0::0001", "family": "both"}, {"tcp6", "udp6", "udp6_zone5"}),
        ({"proto": "udp"}, {"udp4", "udp6", "udp4_zone5", "udp6_zone5"}),
        ({"proto": "tcp", "dport": "7001"}, {"tcp4", "tcp6"}),
        ({"proto": "17", "sport": "41002"}, {"udp4", "udp6"}),
        ({"proto": "udp", "dport": "7002", "dst": V6}, {"udp6"}),
        ({"proto": "icmp"}, {"icmp4"}),
        ({"zone": "5"}, {"udp4_zone5", "udp6_zone5"}),
        ({"zone": "0", "proto": "udp"}, {"udp4", "udp6"}),
        ({"zone": "5", "family": "ipv6"}, {"udp6_zone5"}),
    ],
)
def test_filters_give_the_same_flows_from_the_cli_and_from_proc(
    cli: CommandRunner, proc: CommandRunner, filters: dict[str, Any], expected: set[str]
) -> None:
    status, out, err = _run(cli, **filters)
    assert status == 0, err
    assert _names(_entries(out)) == expected
    status, proc_out, proc_err = _run(proc, **filters)
    assert status == 0, proc_err
    assert _names(_entries(proc_out)) == expected
    notice = f"no conntrack CLI on {proc.node}: read /proc/net/nf_conntrack, filtered by ctdiag"
    assert proc_err.splitlines() == [notice]


def test_proc_lines_are_printed_as_the_kernel_wrote_them(
    namespace: str, proc: CommandRunner
) -> None:
    status, out, _ = _run(proc, family="ipv6", proto="tcp")
    assert status == 0
    (line,) = out.splitlines()
    assert "src=0000:0000:0000:0000:0000:0000:0000:0001" in line and " zone=0 " in line
    assert line in subprocess.run(
        ["ip", "netns", "exec", namespace, "cat", "/proc/net/nf_conntrack"],
        capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=True,
    ).stdout.splitlines()  # fmt: skip


def test_json_lines_follow_the_parse_schema(cli: CommandRunner, proc: CommandRunner) -> None:
    for runner in (cli, proc):
        status, out, _ = _run(runner, json_output=True, proto="udp", zone="5")
        assert status == 0
        objects = [json.loads(line) for line in out.splitlines()]
        assert sorted(o["family"] for o in objects) == ["ipv4", "ipv6"]
        schema = set(entry_to_json(_entries(_run(cli, proto="udp", zone="5")[1])[0]))
        for obj in objects:
            assert set(obj) == schema
            assert obj["zone"] == 5 and obj["proto"] == "udp" and obj["orig"]["dport"] == 7005


def test_count_with_and_without_filters(cli: CommandRunner, proc: CommandRunner) -> None:
    counts = [int(_run(runner, mode=QueryMode.COUNT)[1]) for runner in (cli, proc)]
    assert counts[0] == counts[1] >= len(FLOWS)
    for runner in (cli, proc):
        status, out, _ = _run(runner, mode=QueryMode.COUNT, proto="udp")
        assert (status, out) == (0, "4\n")
        status, out, _ = _run(
            runner, json_output=True, mode=QueryMode.COUNT, family="ipv6", zone="5"
        )
        assert (status, json.loads(out)) == (0, {"count": 1})
    recorder = RecordingRunner(cli)
    _run(recorder, mode=QueryMode.COUNT, proto="udp")
    assert recorder.calls[1] == ("conntrack", "-L", "-o", "extended", "-p", "udp")


def test_stats_from_the_cli_and_decoded_from_proc(cli: CommandRunner, proc: CommandRunner) -> None:
    status, out, _ = _run(cli, mode=QueryMode.STATS)
    from_cli = parse_conntrack_stats(out)
    assert status == 0 and from_cli.cpus and from_cli.has("clash_resolve")
    status, out, err = _run(proc, mode=QueryMode.STATS)
    assert status == 0
    assert err == f"no conntrack CLI on {proc.node}: read /proc/net/stat/nf_conntrack\n"
    assert all(line.startswith("cpu=") and "\tentries=" in line for line in out.splitlines())
    from_proc = parse_conntrack_stats(out)  # the CLI's own shape, so its parser reads it
    assert len(from_proc.cpus) == len(from_cli.cpus)
    assert from_proc.entries is not None and from_proc.entries >= len(FLOWS)
    status, out, _ = _run(proc, json_output=True, mode=QueryMode.STATS)
    stats = json.loads(out)
    assert stats["source"] == "/proc/net/stat/nf_conntrack" and stats["entries"] >= len(FLOWS)
    assert [row["cpu"] for row in stats["cpus"]] == [row.cpu for row in from_cli.cpus]
    assert "clash_resolve" in stats["totals"] and "clashres" not in stats["totals"]


def test_a_failed_node_command_shows_argv_and_stderr_and_nothing_on_stdout(
    cli: CommandRunner,
) -> None:
    status, out, err = _run(RecordingRunner(cli, listing_extra=("--bogus",)), proto="tcp")
    assert (status, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == f"{cli.node}: conntrack -L -o extended -p tcp --bogus exited 2"
    assert f"{cli.node}: conntrack v1.4.7 (conntrack-tools): unknown option `--bogus'" in lines


@pytest.mark.parametrize("no_cli", [False, True])
def test_malformed_lines_are_counted_on_stderr(cli: CommandRunner, no_cli: bool) -> None:
    runner = CorruptingRunner(NoCliRunner(cli) if no_cli else cli)
    status, out, err = _run(runner, proto="tcp")
    assert status == 1
    assert _names(_entries(out)) == {"tcp4", "tcp6"}  # stdout holds what could be read
    (note,) = (line for line in err.splitlines() if "malformed" in line)
    assert note.startswith(f"{cli.node}: 1 malformed line skipped: first at line ")
    assert note.endswith("'ipv4     2 tcp      6 x' (from " + (
        "cat /proc/net/nf_conntrack)" if no_cli else "conntrack -L -o extended -p tcp)"
    ))  # fmt: skip


def test_the_hosts_cli_through_chroot_is_the_cli(cli: CommandRunner) -> None:
    routed = HostRoutedRunner(cli)
    status, out, err = _run(routed, mode=QueryMode.STATS)
    assert status == 0 and parse_conntrack_stats(out).has("clash_resolve")
    status, out, err = _run(routed, proto="udp", zone="5")
    assert status == 0 and "no conntrack CLI" not in err
    assert _names(_entries(out)) == {"udp4_zone5", "udp6_zone5"}
    assert all(
        line.startswith(("ipv4     2 udp ", "ipv6     10 udp ")) for line in out.splitlines()
    )


def test_an_unreadable_count_prints_nothing(cli: CommandRunner) -> None:
    status, out, err = _run(CorruptingRunner(cli), mode=QueryMode.COUNT)
    assert (status, out) == (1, "")
    assert err == f"{cli.node}: conntrack -C printed '12 entries?', not a count\n"


def test_entries_the_cli_should_not_have_listed_are_dropped_and_said(cli: CommandRunner) -> None:
    runner = IgnoresFamilyRunner(cli)
    status, out, err = _run(runner, family="ipv6", proto="udp")
    assert runner.calls[-1] == ("conntrack", "-L", "-o", "extended", "-p", "udp")
    assert status == 0
    assert _names(_entries(out)) == {"udp6", "udp6_zone5"}
    assert f"{cli.node}: 2 entries listed by conntrack do not match the filters: not shown" in err


# ------------------------------------------------------------- the command line's errors
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ctdiag")
    commands = parser.add_subparsers(dest="command", required=True)
    conntrack_command.add_parser(commands)
    return parser


def _main(argv: list[str], runner: CommandRunner) -> tuple[int, str, str]:
    """``python -m ctdiag``'s convention around the subcommand, with a given runner."""
    args = _parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    try:
        query = conntrack_command.query_from_args(args)
        status = conntrack_command.run_query(
            runner, query, out, err, json_output=args.json, timeout=args.timeout
        )
    except CtdiagError as exc:
        err.write(f"ctdiag {args.command}: {exc}\n")
        status = 2
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--src", "10.0.0.300"], "--src: not an IPv4 or IPv6 address: '10.0.0.300'"),
        (["--dport", "53"], "--dport needs -p/--proto, one of tcp, udp, dccp, sctp, udplite"),
        (["-S", "-p", "tcp"], "-S takes no filters (got --proto)"),
        (["--src", "1.2.3.4; rm -rf /"], "--src: not an IPv4 or IPv6 address: '1.2.3.4; rm -rf /'"),
        (["--dst", "$(id)"], "--dst: not an IPv4 or IPv6 address: '$(id)'"),
        (["-p", "tcp;id"], "-p/--proto: unknown protocol 'tcp;id'"),
        (["-p", "tcp", "--sport", "`id`"], "--sport: not a number from 1 to 65535: '`id`'"),
        (["--zone", "0 -D"], "--zone: not a number from 0 to 65535: '0 -D'"),
    ],
)
def test_invalid_options_are_one_line_and_exit_2_before_anything_runs(
    cli: CommandRunner, options: list[str], message: str
) -> None:
    recorder = RecordingRunner(cli)
    status, out, err = _main(["conntrack", cli.node, *options], recorder)
    assert (status, out, recorder.calls) == (2, "", [])
    (line,) = err.splitlines()
    assert line.startswith(f"ctdiag conntrack: {message}")


def test_the_command_line_runs_argv_words_only(cli: CommandRunner) -> None:
    recorder = RecordingRunner(cli)
    argv = ["conntrack", cli.node, "-C", "--src", "127.0.0.1", "-p", "tcp", "--dport", "7001"]
    status, out, _ = _main(argv, recorder)
    assert (status, out) == (0, "1\n")
    assert recorder.calls == [
        ("conntrack", "--version"),
        ("conntrack", "-L", "-o", "extended", "-s", "127.0.0.1", "-p", "tcp", "--dport", "7001",
         "-f", "ipv4"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "options", [["-L", "-C"], ["-C", "-S"], ["--timeout", "0"], ["--timeout", "nan"]]
)
def test_usage_errors_of_argparse(options: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        _parser().parse_args(["conntrack", "node", *options])
    assert raised.value.code == 2
