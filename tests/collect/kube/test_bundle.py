"""Bundled reads: a node's small commands in a few execs instead of one each.

The constant script runs under dash and bash with hostile words passed through untouched;
its framing keeps binary output and exit statuses; through the lab API (official client,
real exec) a bundled snapshot holds exactly what one exec per command gives, in a fraction
of the execs, and an image without ``sh`` or a bundle cut short falls back to one exec each.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ctdiag.collect.collector import collect_first
from ctdiag.collect.kube.access import Cluster
from ctdiag.collect.kube.bundle import BUNDLE_SCRIPT, LOCATE_SCRIPT, bundle_words, split_bundle
from ctdiag.collect.kube.session import DebugPodSession, PodOptions
from ctdiag.collect.plan import snapshot_plan
from ctdiag.errors import CollectionError
from ctdiag.lab.apiserver.server import LabApiServer

HOSTILE = ("a b", "$(reboot)", "'q'", '"dq"', "x\ny", "`id`", "*", "${HOME}", "-n", "", "\\")
SHELLS = [s for s in ("dash", "bash") if shutil.which(s)]


def _without_stamps(output: bytes) -> bytes:
    """iptables-save's "# Generated/Completed ... on <time>" lines differ from second to second."""
    return b"\n".join(line for line in output.split(b"\n") if not line.startswith(b"# "))


def _run(shell: str, commands: list[list[str]]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([shell, "-c", BUNDLE_SCRIPT, "sh", *bundle_words(commands)],
                          capture_output=True, timeout=30, check=False)  # fmt: skip


@pytest.mark.parametrize("shell", SHELLS)
def test_words_reach_each_command_untouched_and_outputs_keep_their_bytes(shell: str) -> None:
    commands = [
        ["printf", "%s\\0", *HOSTILE],
        ["sh", "-c", "printf 'out\\000\\377'; printf 'err\\n' >&2; exit 3"],
        ["true"],
        ["ctdiag-no-such-program"],
        ["printf", "%s", "x" * 100_000],
    ]
    done = _run(shell, commands)
    assert done.returncode == 0, done.stderr
    parts = split_bundle(done.stdout, len(commands), node="n")
    assert parts[0].stdout.split(b"\0")[:-1] == [w.encode() for w in HOSTILE]
    assert (parts[1].exit_status, parts[1].stdout, parts[1].stderr) == (3, b"out\0\xff", b"err\n")
    assert (parts[2].exit_status, parts[2].stdout, parts[2].stderr) == (0, b"", b"")
    assert parts[3].exit_status == 127 and parts[3].stdout == b""
    assert parts[4].stdout == b"x" * 100_000


@pytest.mark.parametrize("shell", SHELLS)
def test_the_lookup_names_exactly_the_programs_on_the_path(shell: str) -> None:
    done = subprocess.run([shell, "-c", LOCATE_SCRIPT, "sh", "cat", "ctdiag-no-such", "$(id)"],
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    assert done.stdout.split() == [b"cat"]


@pytest.mark.parametrize("cut", [0, 10, -1, -7])
def test_a_bundle_cut_short_is_one_line_naming_the_node(cut: int) -> None:
    done = _run(SHELLS[0], [["printf", "abc"], ["printf", "defgh"]])
    stdout = done.stdout[:cut] if cut else b""
    with pytest.raises(CollectionError, match=r"^n: bundled reads cut short") as info:
        split_bundle(stdout, 2, node="n")
    assert "\n" not in str(info.value)


def test_trailing_bytes_after_the_last_command_are_refused() -> None:
    done = _run(SHELLS[0], [["printf", "abc"]])
    with pytest.raises(CollectionError, match="3 bytes after the last command"):
        split_bundle(done.stdout + b"xyz", 1, node="n")


def _execs(api: LabApiServer) -> list[tuple[str, ...]]:
    return [argv for _, _, argv in api.exec_log()]


@pytest.mark.needs_root
@pytest.mark.parametrize(
    ("image", "node_name"), [(None, "worker-a"), ("ctdiag.lab/minimal", "worker-bare")]
)
def test_a_bundled_snapshot_holds_what_one_exec_each_gives_in_few_execs(
    cluster: Cluster, lab_api: LabApiServer, image: str | None, node_name: str
) -> None:
    options = PodOptions(**({"image": image} if image else {}), start_timeout_s=20)
    with DebugPodSession(cluster, options) as pods:
        runner = pods.runner(node_name)
        before = len(_execs(lab_api))
        snapshot, _ = collect_first(runner, parse=False)
        bundled_execs = len(_execs(lab_api)) - before
        small = [c for c in snapshot_plan(snapshot.conntrack_version)
                 if not c.name.startswith("entries")]  # fmt: skip
        one_each = [runner.run(c.name, c.argv, timeout=c.timeout) for c in small]
    assert len(small) >= 15
    # version probe (and its chroot retry), lookups, bundles, gzip probe, listing
    assert bundled_execs <= 8, _execs(lab_api)[before:]
    stable = {"uname", "sysctl", "rules_raw", "rules_nat", "rules_filter", "rules6_raw",
              "rules6_nat", "links", "addresses", "routes", "routes6", "netns", "netns_name"}
    for command, alone in zip(small, one_each, strict=True):
        got = snapshot.get(command.name)
        assert got is not None, command.name
        assert (got.argv, got.exit_status) == (alone.argv, alone.exit_status), command.name
        if command.name in stable:
            assert _without_stamps(got.stdout) == _without_stamps(alone.stdout), command.name
            assert got.stderr == alone.stderr, command.name


@pytest.mark.needs_root
def test_an_image_without_sh_runs_one_exec_each(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    options = PodOptions(image="ctdiag.lab/no-shell", start_timeout_s=20)
    with DebugPodSession(cluster, options) as pods:
        runner = pods.runner("worker-a")
        snapshot, _ = collect_first(runner, parse=False)
    small = [c for c in snapshot_plan(snapshot.conntrack_version)
             if not c.name.startswith("entries")]  # fmt: skip
    assert all(snapshot.get(c.name) is not None for c in small)
    assert not any(BUNDLE_SCRIPT in argv for argv in _execs(lab_api))
    assert snapshot.require("uname").ok


@pytest.mark.needs_root
def test_a_bundle_cut_short_falls_back_to_one_exec_each(
    cluster: Cluster, lab_api: LabApiServer
) -> None:
    with DebugPodSession(cluster, PodOptions(start_timeout_s=20)) as pods:
        runner = pods.runner("worker-a")
        runner.run("uname", ("uname", "-r"), timeout=10)  # routes known: no lookup below
        lab_api.faults.exec_drop_match = "ctdiag-part"  # the bundle only, not its fallback
        lab_api.faults.exec_drop_after_bytes = 64
        try:
            outputs = runner.run_many(
                [c for c in snapshot_plan(None) if c.name in ("uname", "sysctl")])
        except CollectionError:
            outputs = None
        finally:
            lab_api.faults.exec_drop_after_bytes = None
            lab_api.faults.exec_drop_match = ""
    assert outputs is not None and [o.name for o in outputs] == ["uname", "sysctl"]
