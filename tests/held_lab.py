"""The lab for a group of tests: under the machine-wide lab lock, always torn down.

:func:`hold_lab` brings the lab up for in-process tests. :class:`SharedLab` keeps one lab
(with background traffic) for many real ``pytest --lab --lab-reuse`` runs: it hands its lock
to each run, and rebuilds the lab only after a run that leaves what cannot be undone
(drop counters since the namespace was made, "table full" kernel log lines of its inode).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from ctdiag.lab.lifecycle import down, exclusive_lab, lock_handover, status, up
from ctdiag.lab.session import SESSION_TRAFFIC, SETTLE_SECONDS
from ctdiag.lab.state import load_state
from ctdiag.lab.topology import LabNode
from ctdiag.lab.traffic import TrafficRun, start_traffic


def hold_lab(request: pytest.FixtureRequest) -> LabNode:
    """Take the lab lock and bring the lab up for ``request``'s scope.

    One lab per machine: pytest-xdist workers (and parallel runs) wait for each other instead
    of colliding. The lock and the teardown are finalizers, so a failing ``up`` still
    releases both.
    """
    lock = exclusive_lab()
    lock.__enter__()
    request.addfinalizer(lambda: lock.__exit__(None, None, None))
    request.addfinalizer(down)
    started = time.monotonic()
    node = up()
    print(f"lab up in {time.monotonic() - started:.2f} s")
    return node


class SharedLab:
    """One lab reused by many runs; see the module docstring.

    Attributes:
        builds: how many times the lab was built (the point of sharing it).
    """

    def __init__(self, lock_fd: int) -> None:
        self._lock_fd = lock_fd
        self._traffic: TrafficRun | None = None
        self._built_at = 0.0
        self._dirty = True
        self.builds = 0

    def ready(self) -> None:
        """A lab in its healthy state for the next run: rebuilt when a run left it dirty,
        when its traffic is about to end, or when a run broke it."""
        aged = time.monotonic() - self._built_at > SESSION_TRAFFIC.duration / 2
        if self._dirty or aged or status().empty or load_state().active:
            self._build()

    def taint(self) -> None:
        """The last run left what only a new lab undoes."""
        self._dirty = True

    def child_env(self) -> dict[str, str]:
        """Environment of a child run that holds this lab's lock (pass :attr:`pass_fds`)."""
        return {**os.environ, **lock_handover(self._lock_fd)}

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self._lock_fd,)

    def _build(self) -> None:
        self._stop_traffic()
        node = up()
        self._traffic = start_traffic(node, SESSION_TRAFFIC)
        time.sleep(SETTLE_SECONDS)  # flows in every state before the first collection
        self._built_at = time.monotonic()
        self._dirty = False
        self.builds += 1

    def _stop_traffic(self) -> None:
        if self._traffic is not None:
            self._traffic.stop()
            self._traffic = None

    def close(self) -> None:
        self._stop_traffic()
        down()


@contextlib.contextmanager
def shared_lab() -> Iterator[SharedLab]:
    """A :class:`SharedLab` under the lab lock; the lab is removed at the end."""
    with exclusive_lab() as fd:
        lab = SharedLab(fd)
        try:
            yield lab
        finally:
            lab.close()
