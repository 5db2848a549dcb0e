"""Everything one lab API server holds: store, nodes, faults, logs, tasks and exec processes.

Handlers reach it through ``request.app[STATE]``. The logs are read from the test thread,
so they sit behind a lock; tasks and processes are touched only on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ctdiag.lab.apiserver.cluster import LabApiNode
from ctdiag.lab.apiserver.faults import LabFaults
from ctdiag.lab.apiserver.images import ImageFilesystems
from ctdiag.lab.apiserver.store import ObjectStore


@dataclass(frozen=True, slots=True)
class DeleteRecord:
    """One DELETE request: its path and the grace period it asked for (``None``: default)."""

    path: str
    grace_period_seconds: int | None


@dataclass(frozen=True, slots=True)
class ExecRecord:
    """One exec that reached the "container runtime"."""

    namespace: str
    pod: str
    argv: tuple[str, ...]


@dataclass
class ApiState:
    """The mutable state of one server."""

    token: str
    faults: LabFaults
    nodes: dict[str, LabApiNode]
    images: ImageFilesystems
    store: ObjectStore = field(default_factory=ObjectStore)
    requests: list[tuple[str, str]] = field(default_factory=list)
    deletes: list[DeleteRecord] = field(default_factory=list)
    execs: list[ExecRecord] = field(default_factory=list)
    log_lock: threading.Lock = field(default_factory=threading.Lock)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    processes: dict[tuple[str, str], set[asyncio.subprocess.Process]] = field(
        default_factory=dict
    )
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; cancelled when the server stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def log_request(self, method: str, path: str) -> None:
        with self.log_lock:
            self.requests.append((method, path))

    def log_delete(self, record: DeleteRecord) -> None:
        with self.log_lock:
            self.deletes.append(record)

    def log_exec(self, record: ExecRecord) -> None:
        with self.log_lock:
            self.execs.append(record)

    def track(self, pod: tuple[str, str], process: asyncio.subprocess.Process) -> None:
        """Remember an exec process of ``(namespace, pod)`` until :meth:`untrack`."""
        self.processes.setdefault(pod, set()).add(process)

    def untrack(self, pod: tuple[str, str], process: asyncio.subprocess.Process) -> None:
        running = self.processes.get(pod, set())
        running.discard(process)
        if not running:
            self.processes.pop(pod, None)

    def kill_execs(self, pod: tuple[str, str] | None = None) -> None:
        """SIGKILL the process groups of a pod's execs (of every pod when ``None``)."""
        keys = list(self.processes) if pod is None else [pod]
        for key in keys:
            for process in self.processes.get(key, set()):
                kill_group(process)


def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL ``process`` and its process group (it leads one: ``start_new_session``)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


STATE = web.AppKey("state", ApiState)
