"""Runners against the real machine: here, and inside a scratch network namespace."""

from __future__ import annotations

import os
import socket
import time

import pytest

from ctdiag.collect.runners import (
    MISSING_COMMAND_STATUS,
    CommandRunner,
    LocalRunner,
    NetnsRunner,
)
from ctdiag.errors import CollectionError
from tests.collect.scratch_netns import ScratchNamespaces

pytestmark = pytest.mark.needs_root

MISSING_PROGRAM = "ctdiag-test-no-such-program"


@pytest.fixture(scope="module")
def namespace(scratch_namespaces: ScratchNamespaces) -> str:
    return scratch_namespaces.create("runner")


@pytest.fixture(params=["local", "netns"])
def runner(request: pytest.FixtureRequest, namespace: str) -> CommandRunner:
    if request.param == "local":
        return LocalRunner("this-node")
    return NetnsRunner(namespace)


def test_local_runner_defaults_to_the_host_name() -> None:
    assert LocalRunner().node == socket.gethostname()


def test_netns_runner_is_named_after_its_namespace(namespace: str) -> None:
    assert NetnsRunner(namespace).node == namespace


def test_missing_namespace_is_a_collection_error(namespace: str) -> None:
    missing = f"{namespace}-absent"
    with pytest.raises(CollectionError) as caught:
        NetnsRunner(missing)
    assert caught.value.node == missing
    assert repr(missing) in str(caught.value)
    # The namespaces that do exist are offered instead.
    assert namespace in str(caught.value)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../run"])
def test_a_path_is_not_a_namespace_name(name: str) -> None:
    with pytest.raises(CollectionError, match="not a namespace name"):
        NetnsRunner(name)


def test_missing_program_is_an_output_with_status_127(runner: CommandRunner) -> None:
    output = runner.run("missing", (MISSING_PROGRAM, "--version"), timeout=5)
    assert output.exit_status == MISSING_COMMAND_STATUS == 127
    assert output.name == "missing"
    assert output.argv == (MISSING_PROGRAM, "--version")
    assert output.stdout == b""
    assert MISSING_PROGRAM in output.error_text
    assert "not found" in output.error_text


def test_failing_command_keeps_its_status_and_stderr(runner: CommandRunner) -> None:
    argv = ("sh", "-c", "echo partial; echo 'it broke' >&2; exit 3")
    output = runner.run("failing", argv, timeout=5)
    assert output.exit_status == 3
    assert not output.ok
    assert output.stdout == b"partial\n"
    assert output.stderr == b"it broke\n"
    assert output.argv == argv


def test_failing_real_tool_keeps_its_message(runner: CommandRunner) -> None:
    output = runner.run("absent_file", ("cat", "/proc/ctdiag-test-absent"), timeout=5)
    assert output.exit_status == 1
    assert "/proc/ctdiag-test-absent: No such file or directory" in output.error_text


def test_output_records_when_and_how_long(runner: CommandRunner) -> None:
    before = time.time()
    output = runner.run("sleepy", ("sleep", "0.2"), timeout=5)
    assert output.ok
    assert before - 1 <= output.started_at.timestamp() <= time.time()
    assert 0.2 <= output.duration_s < 3


def test_timeout_raises_naming_node_and_command(runner: CommandRunner) -> None:
    start = time.monotonic()
    with pytest.raises(CollectionError) as caught:
        runner.run("slow", ("sleep", "5"), timeout=0.2)
    assert time.monotonic() - start < 3, "the command was not killed at its timeout"
    assert caught.value.node == runner.node
    assert caught.value.command == ("sleep", "5")
    message = str(caught.value)
    assert message.startswith(f"{runner.node}: ")
    assert "timed out after 0.2 s" in message
    assert "[sleep 5]" in message


def test_commands_run_with_c_locale_and_utc(
    runner: CommandRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the caller's locale and zone, the node's tools print C messages in UTC.
    monkeypatch.setenv("TZ", "America/New_York")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("LC_MESSAGES", "fr_FR.UTF-8")
    monkeypatch.setenv("LC_TIME", "ja_JP.UTF-8")
    output = runner.run("env", ("env",), timeout=5)
    assert output.ok
    env = dict(line.split("=", 1) for line in output.text.splitlines() if "=" in line)
    assert env["LC_ALL"] == "C"
    assert env["TZ"] == "UTC"
    assert not {k for k in env if k.startswith("LC_")} - {"LC_ALL"}
    assert env["PATH"] == os.environ["PATH"]
    zone = runner.run("date", ("date", "+%Z"), timeout=5)
    assert zone.text == "UTC\n"


def _host_netns() -> str:
    return os.readlink("/proc/self/ns/net")


def test_local_runner_runs_in_our_namespace() -> None:
    output = LocalRunner().run("netns", ("readlink", "/proc/self/ns/net"), timeout=5)
    assert output.text.strip() == _host_netns()


def test_netns_runner_runs_inside_the_namespace(
    namespace: str, scratch_namespaces: ScratchNamespaces
) -> None:
    output = NetnsRunner(namespace).run("netns", ("readlink", "/proc/self/ns/net"), timeout=5)
    inside = output.text.strip()
    assert inside != _host_netns()
    assert inside == scratch_namespaces.exec(namespace, "readlink", "/proc/self/ns/net").strip()
    assert inside == f"net:[{os.stat(f'/run/netns/{namespace}').st_ino}]"
