"""Verdicts from table entries (pure), the sender program run locally without privileges,
and :func:`run_probes` against a scripted runner (skip without python3, refusals before
anything runs)."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ctdiag.collect.runners import LocalRunner
from ctdiag.errors import ProbeTargetError
from ctdiag.model.entries import ConntrackEntry
from ctdiag.model.outputs import CommandOutput
from ctdiag.model.probes import ProbeLevel, ProbeTargets
from ctdiag.parse.listing import parse_listing
from ctdiag.probes.crafting import (
    craft_invalid_probe,
    craft_service_probe,
    craft_unreplied_probe,
)
from ctdiag.probes.node_table import find_entry
from ctdiag.probes.run import ProbeOptions, run_probes
from ctdiag.probes.sender import SENDER_SOURCE, sender_argv
from ctdiag.probes.verdicts import judge_invalid, judge_service, judge_unreplied
from tests.probes.test_crafting import NODE, PORTS, TARGETS

WEB = next(p for p in PORTS if p.id == "default/web:80/tcp")
SYN = craft_service_probe(WEB, "10.96.0.20", NODE, 61111, TARGETS, random.Random(0))
SENT = "sent TCP SYN tcp 198.18.0.11:61111 -> 10.96.0.20:80"


def _entry(line: str) -> ConntrackEntry:
    table = parse_listing(("ipv4     2 " + line + "\n").encode())
    assert len(table) == 1, table.diagnostics
    return table.entry(0)


def _tcp(reply: str, flags: str = "", state: str = "CLOSE") -> ConntrackEntry:
    return _entry(f"tcp      6 8 {state} src=198.18.0.11 dst=10.96.0.20 sport=61111 dport=80 "
                  f"{flags}{reply} mark=0 use=1")  # fmt: skip


def test_service_probe_passes_when_translated_to_a_ready_endpoint_and_replied() -> None:
    entry = _tcp("src=10.244.1.11 dst=10.244.1.1 sport=8080 dport=8510")
    assert find_entry([entry], SYN.flow) is entry
    result = judge_service(SYN, entry, ("tcp 10.96.0.20:80 SA",))
    assert result.level is ProbeLevel.PASS
    assert result.translated_to == "10.244.1.11:8080" and result.reply_seen
    assert result.message == (f"{SENT}; translated to 10.244.1.11:8080, reply seen CLOSE; "
                              "sender heard: tcp 10.96.0.20:80 SA")  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (None, "no entry for that tuple"),
        (_tcp("src=10.96.0.20 dst=198.18.0.11 sport=80 dport=61111", "[UNREPLIED] ", "SYN_SENT"),
         "entry found but not translated (reply from 10.96.0.20:80)"),
        (_tcp("src=10.244.1.12 dst=10.244.1.1 sport=8080 dport=1"),
         "translated to 10.244.1.12:8080, not a ready endpoint"),
        (_tcp("src=10.244.1.11 dst=10.244.1.1 sport=8080 dport=1", "[UNREPLIED] ", "SYN_SENT"),
         "translated to 10.244.1.11:8080 but [UNREPLIED]"),
    ],
)  # fmt: skip
def test_service_probe_fails_saying_what_was_found(entry: ConntrackEntry | None, says: str) -> None:
    result = judge_service(SYN, entry)
    assert result.level is ProbeLevel.FAIL
    assert result.message == (
        f"{SENT}; {says}; expected DNAT to a ready endpoint (10.244.1.11:8080) and a reply"
    )
    assert result.entry_found is (entry is not None)


def test_invalid_self_test_needs_the_counter_to_rise() -> None:
    probe = craft_invalid_probe("10.244.1.11", "10.244.1.1", 62000, TARGETS)
    assert judge_invalid(probe, 5, 6).level is ProbeLevel.PASS
    assert judge_invalid(probe, 2**32 - 1, 0).invalid_delta == 1  # a wrap
    failed = judge_invalid(probe, 7, 7)
    assert failed.level is ProbeLevel.FAIL and "invalid counter unchanged at 7" in failed.message
    assert judge_invalid(probe, None, None).level is ProbeLevel.SKIP


def test_unreplied_self_test_needs_an_unreplied_entry() -> None:
    probe = craft_unreplied_probe("10.244.1.11", "10.244.1.1", 62001, TARGETS)
    base = "udp      17 28 src=10.244.1.1 dst=10.244.1.11 sport=62001 dport=33434 "
    unreplied = _entry(base + "[UNREPLIED] src=10.244.1.11 dst=10.244.1.1 sport=33434 dport=62001")
    replied = _entry(base + "src=10.244.1.11 dst=10.244.1.1 sport=33434 dport=62001")
    assert judge_unreplied(probe, unreplied).level is ProbeLevel.PASS
    answered = judge_unreplied(probe, replied, ("udp 10.244.1.11:33434 6B",))
    assert answered.level is ProbeLevel.FAIL
    assert "entry saw a reply from 10.244.1.11:33434; sender heard" in answered.message
    assert "no entry for that tuple" in judge_unreplied(probe, None).message


def test_sender_source_is_a_constant_and_routes_without_privileges() -> None:
    compile(SENDER_SOURCE, "<sender>", "exec")
    argv = sender_argv("route", "127.0.0.1")
    assert argv[:3] == ("python3", "-c", SENDER_SOURCE)
    out = LocalRunner("here").run("route", (sys.executable, *argv[1:]), timeout=10)
    assert out.exit_status == 0
    assert out.text == '{"dst": "127.0.0.1", "src": "127.0.0.1"}\n'
    bad = subprocess.run([sys.executable, "-c", SENDER_SOURCE, "nonsense"],
                         capture_output=True, text=True, timeout=10)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("usage:")


class ScriptedRunner:
    """Answers each argv[0] with a fixed output; records what ran."""

    node = "worker-x"

    def __init__(self, answers: dict[str, tuple[int, bytes]]) -> None:
        self.answers = answers
        self.ran: list[tuple[str, ...]] = []

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        self.ran.append(tuple(argv))
        status, stderr = self.answers[argv[0]]
        return CommandOutput(
            name=name, argv=tuple(argv), exit_status=status, stdout=b"", stderr=stderr,
            started_at=datetime.now(UTC), duration_s=0.0,
        )  # fmt: skip


def test_without_python3_the_probes_skip_with_the_reason() -> None:
    runner = ScriptedRunner({"python3": (127, b"ctdiag: cannot run python3: not in image x\n")})
    report = run_probes(runner, PORTS, TARGETS)
    assert report.skipped == (
        "no python3 on worker-x to send probes: ctdiag: cannot run python3: not in image x"
    )
    assert report.results == () and report.invalid_self_test is None
    assert runner.ran == [("python3", "-c", "pass")]


def test_a_foreign_self_test_target_is_refused_before_anything_runs() -> None:
    runner = ScriptedRunner({})
    match = r"probe refused: 1\.1\.1\.1 is not a pod address the cluster reports"
    with pytest.raises(ProbeTargetError, match=match):
        run_probes(runner, PORTS, TARGETS, options=ProbeOptions(self_test_target="1.1.1.1"))
    assert runner.ran == []


def test_addresses_nobody_reports_are_refused_one_line_each_and_nothing_runs() -> None:
    # The expected Services name 10.96.0.20 and 10.244.1.11; the cluster reports neither
    # (only a Service elsewhere): nothing may be sent, so nothing runs on the node at all.
    elsewhere = ProbeTargets(frozenset({"10.96.0.99"}), frozenset(), (), "this node routes")
    runner = ScriptedRunner({})
    web_only = [p for p in PORTS if p.id == "default/web:80/tcp"]
    report = run_probes(runner, web_only, elsewhere)
    assert runner.ran == []
    (web,) = report.service("default/web:80/tcp")
    assert web.level is ProbeLevel.FAIL and not web.sent and not web.entry_found
    assert web.message == (
        "probe of default/web:80/tcp refused: 10.96.0.20 is neither a Service address nor a "
        "pod address this node routes"
    )
    assert report.invalid_self_test is not None and report.unreplied_self_test is not None
    for test in (report.invalid_self_test, report.unreplied_self_test):
        assert test.level is ProbeLevel.SKIP and not test.sent
        assert test.message.endswith("no pod address this node routes to aim the self-tests at")
