"""Run a node's commands on this machine or inside a named network namespace.

A runner turns one :class:`~ctdiag.collect.plan.NodeCommand` into a
:class:`~ctdiag.model.outputs.CommandOutput`. A command that runs and fails is an output (its
exit status and stderr are evidence); a command that is missing is an output with exit
status 127 and the reason on stderr; only a timeout, or a node that cannot be reached at
all, raises :class:`~ctdiag.errors.CollectionError` naming the node and the command.

A :class:`StreamingRunner` also hands stdout over piece by piece while the command runs
(``run_streaming``), so the flow listing can be parsed as it is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ctdiag.errors import CollectionError
from ctdiag.model.outputs import CommandOutput

if TYPE_CHECKING:
    from ctdiag.collect.plan import NodeCommand

#: Commands run with C messages and UTC times, so their output parses the same everywhere.
COMMAND_ENV = {"LC_ALL": "C", "TZ": "UTC"}
NETNS_DIR = Path("/run/netns")
MISSING_COMMAND_STATUS = 127
#: A full table's listing is ~50 MB that ``conntrack`` writes 4 KiB at a time. Woken for
#: each write, the reader costs the writer a context switch every time (12,000 of them: +10%
#: on the listing). When streaming, stdout gets a 1 MiB pipe (the unprivileged maximum) and
#: the reader naps :data:`STREAM_NAP_S` after a short read, so ~100 KB gather per wake-up;
#: the pipe holds 20 ms of output, so the writer never waits for the nap.
PIPE_SIZE = 1 << 20
STREAM_NAP_S = 0.002
_READ_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

#: Receives each piece of a command's stdout as it arrives, in order (any cut, even mid-line).
StdoutConsumer = Callable[[bytes], None]


class CommandRunner(Protocol):
    """Something that runs argv lists on one node."""

    @property
    def node(self) -> str:
        """The node name used in test ids and reports."""
        ...

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        """Run ``argv`` on the node and store its result under output ``name``.

        Raises:
            CollectionError: the command timed out or the node cannot be reached.
        """
        ...


@runtime_checkable
class StreamingRunner(CommandRunner, Protocol):
    """A runner that can also hand over stdout while the command is still writing it."""

    def run_streaming(
        self, name: str, argv: Sequence[str], *, timeout: float, on_stdout: StdoutConsumer
    ) -> CommandOutput:
        """As :meth:`CommandRunner.run`, calling ``on_stdout`` with every piece of stdout read.

        The returned output still holds all of stdout; ``on_stdout`` sees the same bytes, in
        order. An exception from ``on_stdout`` kills the command and propagates.

        Raises:
            CollectionError: the command timed out or the node cannot be reached.
        """
        ...


@runtime_checkable
class BundlingRunner(CommandRunner, Protocol):
    """A runner that runs many small commands for the price of a few (debug pods: each exec
    is a round trip through the API server and the kubelet)."""

    def run_many(self, commands: Sequence[NodeCommand]) -> list[CommandOutput]:
        """Every command's output, in order, as :meth:`CommandRunner.run` would give it.

        Raises:
            CollectionError: a command timed out or the node cannot be reached.
        """
        ...


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LC_")}
    env.update(COMMAND_ENV)
    return env


def _missing(name: str, argv: Sequence[str], reason: str) -> CommandOutput:
    return CommandOutput(
        name=name,
        argv=tuple(argv),
        exit_status=MISSING_COMMAND_STATUS,
        stdout=b"",
        stderr=f"ctdiag: cannot run {argv[0]}: {reason}\n".encode(),
        started_at=datetime.now(UTC),
        duration_s=0.0,
    )


class LocalRunner:
    """Runs commands on this machine, in the caller's network namespace.

    Args:
        node: the name reported for this machine (default: its host name).
        wrapper: argv prefix that places the command (``ip netns exec NS`` for a namespace).
    """

    def __init__(self, node: str | None = None, *, wrapper: Sequence[str] = ()) -> None:
        self._node = node or socket.gethostname()
        self._wrapper = tuple(wrapper)

    @property
    def node(self) -> str:
        return self._node

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        return self._execute(name, argv, timeout, None)

    def run_streaming(
        self, name: str, argv: Sequence[str], *, timeout: float, on_stdout: StdoutConsumer
    ) -> CommandOutput:
        return self._execute(name, argv, timeout, on_stdout)

    def _execute(
        self, name: str, argv: Sequence[str], timeout: float, on_stdout: StdoutConsumer | None
    ) -> CommandOutput:
        # Resolve the program here: the namespace shares our mount namespace and PATH, and a
        # missing program then reads the same way with or without a wrapper.
        if shutil.which(argv[0]) is None:
            return _missing(name, argv, "command not found")
        started_at = datetime.now(UTC)
        start = time.monotonic()
        try:
            process = subprocess.Popen(
                [*self._wrapper, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_environment(),
            )
        except OSError as exc:
            return _missing(name, argv, exc.strerror or str(exc))
        with process:  # closes the pipes and reaps the process, also on the way out
            try:
                stdout, stderr = _communicate(process, timeout, on_stdout)
            except subprocess.TimeoutExpired as exc:
                process.kill()
                message = f"timed out after {timeout:g} s"
                raise CollectionError(message, node=self.node, command=tuple(argv)) from exc
            except BaseException:
                process.kill()
                raise
        return CommandOutput(
            name=name,
            argv=tuple(argv),
            exit_status=process.returncode,
            stdout=stdout,
            stderr=stderr,
            started_at=started_at,
            duration_s=time.monotonic() - start,
        )


def _communicate(
    process: subprocess.Popen[bytes], timeout: float, on_stdout: StdoutConsumer | None
) -> tuple[bytes, bytes]:
    """Read stdout and stderr to their ends, then reap the process, all within ``timeout``.

    Raises:
        subprocess.TimeoutExpired: the time ran out (the process is left running).
    """
    assert process.stdout is not None and process.stderr is not None
    deadline = time.monotonic() + timeout
    out: list[bytes] = []
    err: list[bytes] = []
    nap = 0.0
    if on_stdout is not None:
        with contextlib.suppress(OSError):  # a smaller pipe: no nap, more wake-ups
            if fcntl.fcntl(process.stdout.fileno(), _F_SETPIPE_SZ, PIPE_SIZE) >= PIPE_SIZE:
                nap = STREAM_NAP_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(process.args, timeout)
            for key, _ in selector.select(remaining):
                data = os.read(key.fd, _READ_SIZE)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                key.data.append(data)
                if on_stdout is not None and key.data is out:
                    on_stdout(data)
                    if nap and len(data) < PIPE_SIZE // 4:
                        time.sleep(nap)
    process.wait(max(0.0, deadline - time.monotonic()))
    return b"".join(out), b"".join(err)


class NetnsRunner(LocalRunner):
    """Runs commands inside the named network namespace (``ip netns exec NAME``).

    The node name is the namespace name.

    Raises:
        CollectionError: (on construction) no such namespace under ``/run/netns``.
    """

    def __init__(self, namespace: str) -> None:
        if not namespace or "/" in namespace or namespace in {".", ".."}:
            raise CollectionError(f"not a namespace name: {namespace!r}", node=namespace)
        if not (NETNS_DIR / namespace).exists():
            known = sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
            hint = f" (known: {', '.join(known)})" if known else " (none exist)"
            message = f"no network namespace {namespace!r} in {NETNS_DIR}{hint}"
            raise CollectionError(message, node=namespace)
        super().__init__(namespace, wrapper=("ip", "netns", "exec", namespace))
