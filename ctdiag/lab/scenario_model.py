"""What every lab scenario is made of: options, the report it returns, shared helpers.

A scenario's ``start`` changes real kernel state in the node namespace and returns what it
measured; its ``stop`` reverts the change, also from another process (what must be
remembered lives in :mod:`ctdiag.lab.state`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ctdiag.errors import LabError
from ctdiag.lab.state import LabState, load_state, save_state
from ctdiag.lab.topology import LabNode, PodRole

FLOODS = "ctdiag.lab.floods"
CLIENTS = "ctdiag.lab.clients"
SERVERS = "ctdiag.lab.servers"


@dataclass(frozen=True, slots=True)
class ScenarioOptions:
    """Knobs of the scenarios; each scenario reads the ones it needs.

    Attributes:
        duration: seconds the scenario's background process keeps going.
        fraction: ``table_pressure``: target count / nf_conntrack_max; above 1.0 the table
            overflows and the kernel early-drops.
        rate: ``invalid_storm``: packets per second.
        flows: ``unreplied_flood``: flows per protocol.
        assured: ``table_pressure``: make the fill flows ASSURED (replied, then used again
            after 2 s), so that early drop cannot evict them and flows beyond the limit are
            dropped (``drop`` counter, "table full, dropping packet").
    """

    duration: float = 30.0
    fraction: float = 0.8
    rate: float = 500.0
    flows: int = 1500
    assured: bool = False


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """What a scenario did, with the numbers it measured, as ``(name, value)`` facts."""

    name: str
    facts: tuple[tuple[str, str], ...]

    def fact(self, key: str) -> str:
        return dict(self.facts)[key]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One switchable problem."""

    name: str
    description: str
    start: Callable[[LabNode, ScenarioOptions], ScenarioReport]
    stop: Callable[[LabNode], None]


def client_namespace(node: LabNode) -> str:
    """Namespace of the lab's client pod, where scenario traffic starts."""
    return node.pods_with_role(PodRole.CLIENT)[0].namespace


def update_state(change: Callable[[LabState], LabState]) -> LabState:
    """Load the lab state, apply ``change``, save and return the result."""
    state = change(load_state())
    save_state(state)
    return state


def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> float:
    """Poll ``predicate`` until true; return the seconds it took. Raises on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise LabError(f"scenario evidence did not appear within {timeout:g} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start
