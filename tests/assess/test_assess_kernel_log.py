""" "table full, dropping packet" in the kernel log (ctdiag.assess.kernel_log).

The real excerpt (``data/dmesg-table-full.txt``, this host's dmesg, kernel 6.18) holds five
bursts of ten lines, each naming the namespace that overflowed: 4026532177 at 752, 835, 859
and 2441 s after boot, 4026532245 at 777 s, and four ``net_ratelimit`` notes. It was taken
when ``/proc/uptime`` read ``data/proc-uptime.txt`` (2462.63 s).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.assess import kernel_log, remedies
from ctdiag.assess.kernel_log import NodeNamespace, parse_namespace, parse_uptime
from ctdiag.assess.thresholds import Thresholds
from ctdiag.model.outputs import CommandOutput, EntrySource, OutputName, Snapshot
from ctdiag.model.verdict import Level, Verdict
from ctdiag.parse.kernel_log import parse_kernel_log
from tests.assess.inputs import data

DEFAULTS = Thresholds()
DMESG = data("dmesg-table-full.txt")
UPTIME = parse_uptime(data("proc-uptime.txt"))
OURS, OTHER = 4026532177, 4026532245
UNNAMED = NodeNamespace(OURS)  # the namespace the 40 lines name, created_at unknown
COLLECTED_AT = 1_795_237_555.0  # epoch seconds at collection (only differences matter)
SOURCE = kernel_log.SOURCE + "; recent: ctdiag default"


def judge(
    text: str = DMESG,
    thresholds: Thresholds = DEFAULTS,
    *,
    uptime: float | None = UPTIME,
    namespace: NodeNamespace = UNNAMED,
) -> Verdict:
    return kernel_log.table_full(
        parse_kernel_log(text), thresholds, uptime_s=uptime, namespace=namespace,
        collected_at=COLLECTED_AT,
    )  # fmt: skip


def burst(second: int) -> list[str]:
    """The "table full" lines logged during ``second`` after boot."""
    return [
        line
        for line in DMESG.splitlines()
        if "table full" in line and int(float(line[1:].split("]")[0])) == second
    ]


# --- parse_uptime / parse_namespace ----------------------------------------------------------


def test_parse_uptime() -> None:
    assert UPTIME == 2462.63
    assert parse_uptime("1522.89 2095.27\n") == 1522.89
    assert parse_uptime("350735.47 234388.90") == 350735.47
    for bad in ("", "\n", "cat: /proc/uptime: No such file or directory", "abc 12.0"):
        assert parse_uptime(bad) is None


def test_parse_namespace() -> None:
    # stat -L -c '%i %Y' /proc/self/ns/net, then `ip netns identify` (empty when unnamed).
    assert parse_namespace("4026531833 1795237555\n", "") == NodeNamespace(4026531833, None)
    assert parse_namespace("4026532177 1795237000\n", "ctdlab-node1\n") == NodeNamespace(
        4026532177, 1795237000.0
    )
    assert parse_namespace("4026532177 1795237000\n", "\n") == NodeNamespace(4026532177, None)
    for bad in (
        "",
        "stat: cannot stat '/proc/self/ns/net': No such file or directory",
        "4026532177",
        "4026532177 1795237000 extra",
        "inode 1795237000",
        "-1 1795237000",
    ):
        assert parse_namespace(bad, "ctdlab-node1") == NodeNamespace(None)


def snapshot(**outputs: tuple[int, str]) -> Snapshot:
    started = datetime(2026, 11, 21, 5, 3, 47, tzinfo=UTC)
    return Snapshot(
        node="ctdtest-node",
        kernel_release="6.18.44",
        conntrack_version="1.4.7",
        collected_at=started,
        entry_source=EntrySource.CONNTRACK_CLI,
        outputs=tuple(
            CommandOutput(name, (name,), status, text.encode(), b"", started, 0.01)
            for name, (status, text) in outputs.items()
        ),
    )


def test_node_context_from_a_snapshot() -> None:
    full = snapshot(
        **{
            OutputName.UPTIME: (0, data("proc-uptime.txt")),
            OutputName.NETNS: (0, "4026532177 1795237000\n"),
            OutputName.NETNS_NAME: (0, "ctdlab-node1\n"),
        }
    )
    assert kernel_log.node_context(full) == (2462.63, NodeNamespace(OURS, 1795237000.0))
    # `ip netns identify` fails outside a named namespace; a missing output reads as empty.
    host = snapshot(
        **{
            OutputName.NETNS: (0, "4026531833 1795237555\n"),
            OutputName.NETNS_NAME: (1, "Not a network namespace\n"),
        }
    )
    assert kernel_log.node_context(host) == (None, NodeNamespace(4026531833, None))
    assert kernel_log.node_context(snapshot()) == (None, NodeNamespace(None))


# --- the real excerpt ------------------------------------------------------------------------


def test_real_log_recent_lines_of_our_namespace_fail() -> None:
    verdict = judge()
    assert verdict.level is Level.FAIL
    assert verdict.finding == (
        '40 recent "table full, dropping packet" lines in the kernel log (56 lines read; '
        "10 lines are about other network namespaces; rate limiters suppressed 20,598 messages)"
    )
    assert verdict.threshold == "fail on lines younger than 3,600 s, warn on older ones"
    assert verdict.source == SOURCE
    assert verdict.remedy is remedies.RAISE_MAX
    assert verdict.evidence_total == 40
    assert len(verdict.evidence) == 20
    assert all(f"in netns {OURS}," in line for line in verdict.evidence)
    assert verdict.evidence[0] == DMESG.splitlines()[2]  # verbatim, in log order
    assert dict(verdict.figures) == {"table_full_lines": 40.0, "table_full_recent": 40.0}


def test_real_log_window_set_for_this_run() -> None:
    verdict = judge(thresholds=Thresholds(kernel_log_seconds=600, evidence_limit=50))
    assert verdict.level is Level.FAIL
    assert verdict.finding.startswith('10 recent "table full, dropping packet" lines')
    assert verdict.evidence == tuple(burst(2441))  # only the burst 21 s before collection
    assert verdict.threshold == "fail on lines younger than 600 s, warn on older ones"
    assert verdict.source.endswith("recent: set for this run (default 3600: ctdiag default)")
    assert dict(verdict.figures) == {"table_full_lines": 40.0, "table_full_recent": 10.0}


def test_real_log_only_old_lines_warn() -> None:
    verdict = judge(thresholds=Thresholds(kernel_log_seconds=10))
    assert verdict.level is Level.WARN
    assert verdict.finding.startswith(
        '40 "table full, dropping packet" lines, all older than 10 s in the kernel log'
    )
    assert verdict.remedy is remedies.RAISE_MAX
    assert verdict.evidence_total == 40


def test_lines_of_other_namespaces_are_ignored() -> None:
    verdict = judge(namespace=NodeNamespace(4026531833))  # the host's namespace
    assert verdict.level is Level.PASS
    assert verdict.finding == (
        'no "table full, dropping packet" line in the kernel log (56 lines read; '
        "50 lines are about other network namespaces; rate limiters suppressed 20,598 messages)"
    )
    assert verdict.remedy is None and verdict.evidence == () and verdict.evidence_total == 0
    other = judge(namespace=NodeNamespace(OTHER))
    assert other.level is Level.FAIL
    assert other.evidence_total == 10
    assert "40 lines are about other network namespaces" in other.finding


def test_unknown_inode_counts_every_line() -> None:
    verdict = judge(namespace=NodeNamespace(None))
    assert verdict.level is Level.FAIL
    assert verdict.evidence_total == 50
    assert "other network namespaces" not in verdict.finding


def test_reused_inode_lines_older_than_a_named_namespace_are_ignored() -> None:
    # The kernel reuses namespace inodes: a namespace named 100 s before collection cannot
    # have logged the bursts of 752-859 s (about 1,600 s old), though they carry its inode.
    created = COLLECTED_AT - 100
    verdict = judge(namespace=NodeNamespace(OURS, created))
    assert verdict.level is Level.FAIL
    assert verdict.evidence == tuple(burst(2441))
    assert "40 lines are about other network namespaces" in verdict.finding
    newer = judge(namespace=NodeNamespace(OURS, COLLECTED_AT - 5))
    assert newer.level is Level.PASS
    assert "50 lines are about other network namespaces" in newer.finding


def test_lines_without_a_namespace_older_than_a_named_namespace_are_ignored() -> None:
    old_wording = DMESG.replace(f" in netns {OURS},", ",").replace(f" in netns {OTHER},", ",")
    assert judge(old_wording, namespace=NodeNamespace(OURS)).evidence_total == 50
    verdict = judge(old_wording, namespace=NodeNamespace(OURS, COLLECTED_AT - 100))
    assert verdict.level is Level.FAIL
    assert verdict.evidence_total == 10
    assert "40 lines are about other network namespaces" in verdict.finding


# --- wordings, prefixes and ages -------------------------------------------------------------

ERAS = [
    "ip_conntrack: table full, dropping packet.",
    "nf_conntrack: table full, dropping packet.",
    "nf_conntrack: table full, dropping packet",
    "nf_conntrack: nf_conntrack: table full, dropping packet",
    f"nf_conntrack: nf_conntrack: table full in netns {OURS}, dropping packet",
    f"nf_conntrack: table full in netns {OURS}, dropping packet",
]


@pytest.mark.parametrize("message", ERAS)
@pytest.mark.parametrize(
    ("prefix", "old_level"),
    [
        ("[ 2400.123456] ", Level.WARN),  # dmesg
        ("<4>[ 2400.123456] ", Level.WARN),  # dmesg -r
        ("[ 2400.123456] node1 kernel: ", Level.WARN),  # journalctl -o short-monotonic
        # syslog: its wall-clock stamp is the line's, so its age is unknown (counts as recent)
        ("Nov 21 05:03:47 node1 kernel: [ 2400.123456] ", Level.FAIL),
    ],
)
def test_every_wording_era_counts(prefix: str, old_level: Level, message: str) -> None:
    text = f"[ 2399.000001] eth0: link up\n{prefix}{message}\n"
    verdict = judge(text, namespace=NodeNamespace(OURS))
    assert verdict.level is Level.FAIL
    assert verdict.evidence == (f"{prefix}{message}",)
    assert verdict.finding.startswith('1 recent "table full, dropping packet" lines')
    old = judge(text, Thresholds(kernel_log_seconds=30), namespace=NodeNamespace(OURS))
    assert old.level is old_level  # 62.5 s old


@pytest.mark.parametrize(
    "line",
    [
        "[Sat Nov 21 05:03:47 2026] nf_conntrack: nf_conntrack: table full, dropping packet",
        "Nov 21 05:03:47 node1 kernel: nf_conntrack: nf_conntrack: table full, dropping packet",
        "2026-11-21T05:03:47.123456+00:00 node1 kernel: nf_conntrack: table full, dropping packet",
    ],
)
def test_wall_clock_timestamps_count_as_recent(line: str) -> None:
    # Their age cannot be told from the uptime: better a false FAIL than a missed one.
    verdict = judge(f"{line}\n", Thresholds(kernel_log_seconds=1))
    assert verdict.level is Level.FAIL
    assert verdict.evidence == (line,)


def test_unknown_uptime_counts_as_recent() -> None:
    verdict = judge(thresholds=Thresholds(kernel_log_seconds=1), uptime=None)
    assert verdict.level is Level.FAIL
    assert verdict.evidence_total == 40
    # Without ages a named namespace's creation time cannot exclude anything either.
    named = judge(uptime=None, namespace=NodeNamespace(OURS, COLLECTED_AT - 5))
    assert named.evidence_total == 40


@pytest.mark.parametrize(
    ("uptime", "level"),
    [(4600.5, Level.FAIL), (4600.25, Level.FAIL), (4600.75, Level.WARN)],
)
def test_age_exactly_at_the_window_is_recent(uptime: float, level: Level) -> None:
    # A line 3,600 s old is not older than kernel_log_seconds; 3,600.25 s is.
    text = "[ 1000.500000] nf_conntrack: nf_conntrack: table full, dropping packet\n"
    assert judge(text, uptime=uptime).level is level


def test_clock_skew_never_makes_a_negative_age() -> None:
    text = "[ 9000.000000] nf_conntrack: nf_conntrack: table full, dropping packet\n"
    assert judge(text, Thresholds(kernel_log_seconds=0), uptime=100.0).level is Level.FAIL


def test_no_conntrack_line_passes() -> None:
    text = "".join(line + "\n" for line in DMESG.splitlines()[:2])
    verdict = judge(text)
    assert verdict.level is Level.PASS
    assert (
        verdict.finding == 'no "table full, dropping packet" line in the kernel log (2 lines read)'
    )
    assert dict(verdict.figures) == {"table_full_lines": 0.0, "table_full_recent": 0.0}


@given(
    ages=st.lists(st.integers(0, 20_000), min_size=1, max_size=30), window=st.integers(0, 10_000)
)
def test_level_follows_the_youngest_line(ages: list[int], window: int) -> None:
    uptime = 30_000.0
    text = "".join(
        f"[{uptime - age:12.6f}] nf_conntrack: nf_conntrack: table full, dropping packet\n"
        for age in ages
    )
    verdict = judge(text, Thresholds(kernel_log_seconds=window), uptime=uptime)
    recent = sum(age <= window for age in ages)
    assert verdict.level is (Level.FAIL if recent else Level.WARN)
    assert dict(verdict.figures) == {"table_full_lines": len(ages), "table_full_recent": recent}
    assert verdict.evidence_total == (recent or len(ages))
