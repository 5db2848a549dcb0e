"""The collection plan: which commands a node gets, for each conntrack-tools version (pure)."""

from __future__ import annotations

import pytest

from ctdiag.collect.plan import (
    LISTING_TIMEOUT,
    UNAME,
    VERSION_PROBE,
    NodeCommand,
    counter_commands,
    entry_source,
    followup_plan,
    listing_commands,
    parse_conntrack_version,
    snapshot_plan,
)
from ctdiag.model.outputs import EntrySource, OutputName
from tests.paths import CAPTURES

LISTING = ("conntrack", "-L", "-o", "extended")
#: Versions the plan must handle: no CLI, the two single-call generations, the split ones.
VERSIONS = (None, "1.4.4", "1.4.5", "1.4.6", "1.4.7", "1.4.8")
SHELLS = {"sh", "bash", "dash", "zsh", "busybox"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conntrack v1.4.7 (conntrack-tools)\n", "1.4.7"),
        ("conntrack v1.4.6 (conntrack-tools)", "1.4.6"),
        ("conntrack v1.4.8 (conntrack-tools)\n", "1.4.8"),
        ("conntrack v1.4.10 (conntrack-tools)\n", "1.4.10"),
        ("", None),
        ("bash: line 1: conntrack: command not found\n", None),
        ("ctdiag: cannot run conntrack: command not found\n", None),
        ("conntrack vX.Y (conntrack-tools)\n", None),
        ("conntrack v (conntrack-tools)\n", None),
        ("\x00\xff garbage 1.4.7\n", None),
    ],
)
def test_parse_conntrack_version(text: str, expected: str | None) -> None:
    assert parse_conntrack_version(text) == expected


def test_parse_conntrack_version_of_the_real_trailer() -> None:
    # The stderr trailer of a real listing on this kernel carries the same version banner.
    trailer = (CAPTURES / "conntrack_L.stderr").read_text()
    assert parse_conntrack_version(trailer) == "1.4.7"


def test_listing_without_cli_reads_proc() -> None:
    (command,) = listing_commands(None)
    assert command == NodeCommand(
        OutputName.ENTRIES, ("cat", "/proc/net/nf_conntrack"), LISTING_TIMEOUT, True
    )


@pytest.mark.parametrize("version", ["1.4.5", "1.4.7", "1.4.8", "1.4.10", "1.5.0"])
def test_listing_in_one_call(version: str) -> None:
    # 1.4.7+ list both families in one -L; 1.4.5 does too and ignores -f.
    (command,) = listing_commands(version)
    assert command.name == OutputName.ENTRIES
    assert command.argv == LISTING
    assert command.required
    assert command.timeout == LISTING_TIMEOUT


@pytest.mark.parametrize("version", ["1.4.4", "1.4.6", "1.4.3"])
def test_listing_per_family_for_tools_that_list_ipv4_only(version: str) -> None:
    ipv4, ipv6 = listing_commands(version)
    assert (ipv4.name, ipv4.argv) == (OutputName.ENTRIES, (*LISTING, "-f", "ipv4"))
    assert (ipv6.name, ipv6.argv) == (OutputName.ENTRIES_IPV6, (*LISTING, "-f", "ipv6"))
    assert ipv4.required and ipv6.required
    assert ipv4.timeout == ipv6.timeout == LISTING_TIMEOUT


def test_counters_without_cli_read_proc() -> None:
    by_name = {c.name: c.argv for c in counter_commands(None)}
    assert by_name == {
        OutputName.UPTIME: ("cat", "/proc/uptime"),
        OutputName.COUNT: ("cat", "/proc/sys/net/netfilter/nf_conntrack_count"),
        OutputName.STATS_PROC: ("cat", "/proc/net/stat/nf_conntrack"),
    }


def test_counters_with_cli_use_it_and_keep_proc_stats() -> None:
    by_name = {c.name: c.argv for c in counter_commands("1.4.7")}
    assert by_name == {
        OutputName.UPTIME: ("cat", "/proc/uptime"),
        OutputName.COUNT: ("conntrack", "-C"),
        OutputName.STATS: ("conntrack", "-S"),
        OutputName.STATS_PROC: ("cat", "/proc/net/stat/nf_conntrack"),
    }


def test_entry_source() -> None:
    assert entry_source(None) is EntrySource.PROC
    assert entry_source("1.4.7") is EntrySource.CONNTRACK_CLI


@pytest.mark.parametrize("version", VERSIONS)
def test_every_command_is_an_argv_tuple_not_a_shell_line(version: str | None) -> None:
    for command in (VERSION_PROBE, *snapshot_plan(version), *followup_plan(version)):
        assert isinstance(command.argv, tuple), command
        assert command.argv, command
        assert all(isinstance(arg, str) and arg for arg in command.argv), command
        assert command.argv[0] not in SHELLS, command
        assert " " not in command.argv[0], command
        assert command.timeout > 0, command


@pytest.mark.parametrize("version", VERSIONS)
def test_output_names_are_unique_and_leave_room_for_the_probe(version: str | None) -> None:
    # The collector stores the version probe beside the plan's outputs in one Snapshot,
    # whose output names must be unique.
    for plan in (snapshot_plan(version), followup_plan(version)):
        names = [command.name for command in plan]
        assert len(names) == len(set(names)), names
        assert VERSION_PROBE.name not in names
        assert all(name in set(OutputName) for name in names), names


@pytest.mark.parametrize("version", VERSIONS)
def test_snapshot_plan_lists_first_and_reads_everything(version: str | None) -> None:
    plan = snapshot_plan(version)
    listings = listing_commands(version)
    assert plan[: len(listings)] == listings
    names = {command.name for command in plan}
    assert {
        OutputName.UNAME,
        OutputName.COUNT,
        OutputName.STATS_PROC,
        OutputName.SYSCTL,
        OutputName.KERNEL_LOG,
        OutputName.RULES_RAW,
        OutputName.RULES_NAT,
        OutputName.RULES_FILTER,
        OutputName.NFT_RULESET,
        OutputName.NETNS,
        OutputName.LINKS,
        OutputName.ADDRESSES,
    } <= names
    required = {command.name for command in plan if command.required}
    assert required == {c.name for c in listings} | {UNAME.name}


@pytest.mark.parametrize("version", VERSIONS)
def test_followup_repeats_the_counters_with_the_same_commands(version: str | None) -> None:
    first = {command.name: command for command in snapshot_plan(version)}
    followup = followup_plan(version)
    assert not any(c.name.startswith(OutputName.ENTRIES) for c in followup)
    for command in followup:
        assert first[command.name] == command
    assert {c.name for c in counter_commands(version)} < {c.name for c in followup}


def test_addresses_are_read_once_as_one_line_per_address() -> None:
    # NodePort entries are judged on the node's own addresses (issue 6): `ip -o addr show`.
    by_name = {c.name: c for c in snapshot_plan("1.4.7")}
    assert by_name[OutputName.ADDRESSES].argv == ("ip", "-o", "addr", "show")
    assert not by_name[OutputName.ADDRESSES].required
    assert OutputName.ADDRESSES not in {c.name for c in followup_plan("1.4.7")}
