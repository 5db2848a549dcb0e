"""Run a node's commands on this machine or inside a named network namespace.

A runner turns one :class:`~ctdiag.collect.plan.NodeCommand` into a
:class:`~ctdiag.snapshot.CommandOutput`. A command that runs and fails is an output (its
exit status and stderr are evidence); a command that is missing is an output with exit
status 127 and the reason on stderr; only a timeout, or a node that cannot be reached at
all, raises :class:`~ctdiag.errors.CollectionError` naming the node and the command.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ctdiag.errors import CollectionError
from ctdiag.snapshot import CommandOutput

#: Commands run with C messages and UTC times, so their output parses the same everywhere.
COMMAND_ENV = {"LC_ALL": "C", "TZ": "UTC"}
NETNS_DIR = Path("/run/netns")
MISSING_COMMAND_STATUS = 127


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
        # Resolve the program here: the namespace shares our mount namespace and PATH, and a
        # missing program then reads the same way with or without a wrapper.
        if shutil.which(argv[0]) is None:
            return _missing(name, argv, "command not found")
        started_at = datetime.now(UTC)
        start = time.monotonic()
        try:
            done = subprocess.run(
                [*self._wrapper, *argv],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                env=_environment(),
            )
        except subprocess.TimeoutExpired as exc:
            message = f"timed out after {timeout:g} s"
            raise CollectionError(message, node=self.node, command=tuple(argv)) from exc
        except OSError as exc:
            return _missing(name, argv, exc.strerror or str(exc))
        return CommandOutput(
            name=name,
            argv=tuple(argv),
            exit_status=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            started_at=started_at,
            duration_s=time.monotonic() - start,
        )


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
