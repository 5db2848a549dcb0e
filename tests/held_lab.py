"""The lab for a group of tests: under the machine-wide lab lock, always torn down."""

from __future__ import annotations

import time

import pytest

from ctdiag.lab.lifecycle import down, exclusive_lab, up
from ctdiag.lab.topology import LabNode


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
