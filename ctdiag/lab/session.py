"""A lab for the length of one run: lock, build, traffic (and scenarios), then tear down.

``pytest --lab`` and ``make lab`` use this: the lab is built, background traffic gives its
table realistic content (held connections, TIME_WAIT, DNS), chosen scenarios are switched
on, and everything is removed at the end, also when the run fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields

from ctdiag.errors import LabError
from ctdiag.lab.lifecycle import down, exclusive_lab, status, up
from ctdiag.lab.scenario_model import Scenario, ScenarioOptions, ScenarioReport
from ctdiag.lab.scenarios import scenario
from ctdiag.lab.state import load_state
from ctdiag.lab.topology import LabNode, default_lab
from ctdiag.lab.traffic import TrafficPlan, TrafficRun, start_traffic

#: Seconds of background traffic before the first collection, so flows exist in every state.
SETTLE_SECONDS = 3.0
#: Streams stop by themselves after this long, even if the run never ends them.
TRAFFIC_SECONDS = 900.0
SESSION_TRAFFIC = TrafficPlan(
    duration=TRAFFIC_SECONDS, http_requests=2000, http_rate=10.0, dns_queries=2000, dns_rate=5.0
)


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A scenario to switch on, with its knobs: ``NAME[:key=value,...]`` on the command line."""

    scenario: Scenario
    options: ScenarioOptions


def parse_scenario_spec(text: str) -> ScenarioSpec:
    """``table_pressure:fraction=1.1,assured=true`` -> the scenario and its options.

    Raises:
        LabError: unknown scenario or option, or a value of the wrong type.
    """
    name, _, knobs = text.partition(":")
    chosen = scenario(name)
    known = {f.name: f.type for f in fields(ScenarioOptions)}
    values: dict[str, object] = {}
    for item in filter(None, knobs.split(",")):
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            raise LabError(
                f"scenario {text!r}: {item!r} is not key=value with key one of {', '.join(known)}"
            )
        kind = known[key]
        try:
            if kind in ("bool", bool):
                if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(raw)
                values[key] = raw.lower() in {"true", "1", "yes"}
            else:
                values[key] = int(raw) if kind in ("int", int) else float(raw)
        except ValueError:
            raise LabError(f"scenario {text!r}: {key}={raw!r} is not a valid {kind}") from None
    return ScenarioSpec(chosen, ScenarioOptions(**values))  # type: ignore[arg-type]


@contextlib.contextmanager
def lab_session(
    scenarios: Sequence[str] = (),
    *,
    report: Callable[[str], None] = lambda message: None,
) -> Iterator[LabNode]:
    """Hold the lab for a run and yield its node; tear everything down on exit.

    Args:
        scenarios: scenario specs (``NAME[:key=value,...]``) to switch on after the traffic
            started.
        report: called with one line per step (build time, scenario facts).

    Raises:
        LabError: unknown scenario, lock held elsewhere, or a build step failed.
    """
    chosen = [parse_scenario_spec(text) for text in scenarios]
    with exclusive_lab():
        traffic: TrafficRun | None = None
        try:
            start = time.monotonic()
            node = up()
            traffic = start_traffic(node, SESSION_TRAFFIC)
            report(f"lab up in {time.monotonic() - start:.1f} s: node namespace {node.namespace}")
            time.sleep(SETTLE_SECONDS)
            for spec in chosen:
                facts = spec.scenario.start(node, spec.options)
                report(f"scenario {spec.scenario.name}: {_facts(facts)}")
            yield node
        finally:
            if traffic is not None:
                traffic.stop()
            torn = down()
            report(f"lab down: {len(torn.namespaces)} namespaces removed")


@contextlib.contextmanager
def reused_lab_session(
    scenarios: Sequence[str] = (),
    *,
    report: Callable[[str], None] = lambda message: None,
) -> Iterator[LabNode]:
    """The lab that is already up (``ctdiag lab up``), held for a run; nothing is built or
    torn down. The chosen scenarios are switched on for the run and off again at its end,
    so the lab is left as it was found.

    Raises:
        LabError: unknown scenario, no lab is up, another scenario is still on, or the lock
            is held elsewhere.
    """
    chosen = [parse_scenario_spec(text) for text in scenarios]
    with exclusive_lab():
        if status().empty:
            raise LabError("--lab-reuse: no lab is up (start one with `python -m ctdiag lab "
                           "up`, or drop --lab-reuse to build one for the run)")  # fmt: skip
        still_on = load_state().active
        if still_on:
            raise LabError(f"--lab-reuse: scenario {', '.join(still_on)} is still on (switch "
                           "it off with `python -m ctdiag lab scenario NAME --stop`)")  # fmt: skip
        node = default_lab()
        started: list[Scenario] = []
        try:
            for spec in chosen:
                started.append(spec.scenario)  # before start: a half-started one is undone
                facts = spec.scenario.start(node, spec.options)
                report(f"scenario {spec.scenario.name}: {_facts(facts)}")
            yield node
        finally:
            for done in reversed(started):
                done.stop(node)
                report(f"scenario {done.name} switched off")


def _facts(facts: ScenarioReport) -> str:
    return ", ".join(f"{key}={value}" for key, value in facts.facts)
