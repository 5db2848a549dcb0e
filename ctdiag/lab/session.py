"""A lab for the length of one run: lock, build, traffic (and scenarios), then tear down.

``pytest --lab`` and ``make lab`` use this: the lab is built, background traffic gives its
table realistic content (held connections, TIME_WAIT, DNS), chosen scenarios are switched
on, and everything is removed at the end, also when the run fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

from ctdiag.lab.lifecycle import down, exclusive_lab, up
from ctdiag.lab.scenarios import ScenarioOptions, ScenarioReport, scenario
from ctdiag.lab.topology import LabNode
from ctdiag.lab.traffic import TrafficPlan, TrafficRun, start_traffic

#: Seconds of background traffic before the first collection, so flows exist in every state.
SETTLE_SECONDS = 3.0
#: Streams stop by themselves after this long, even if the run never ends them.
TRAFFIC_SECONDS = 900.0
SESSION_TRAFFIC = TrafficPlan(
    duration=TRAFFIC_SECONDS, http_requests=2000, http_rate=10.0, dns_queries=2000, dns_rate=5.0
)


@contextlib.contextmanager
def lab_session(
    scenarios: Sequence[str] = (),
    *,
    options: ScenarioOptions | None = None,
    report: Callable[[str], None] = lambda message: None,
) -> Iterator[LabNode]:
    """Hold the lab for a run and yield its node; tear everything down on exit.

    Args:
        scenarios: names of scenarios to switch on after the traffic started.
        options: scenario knobs (defaults: :class:`ScenarioOptions`).
        report: called with one line per step (build time, scenario facts).

    Raises:
        LabError: unknown scenario, lock held elsewhere, or a build step failed.
    """
    chosen = [scenario(name) for name in scenarios]
    with exclusive_lab():
        traffic: TrafficRun | None = None
        try:
            start = time.monotonic()
            node = up()
            traffic = start_traffic(node, SESSION_TRAFFIC)
            report(f"lab up in {time.monotonic() - start:.1f} s: node namespace {node.namespace}")
            time.sleep(SETTLE_SECONDS)
            for item in chosen:
                facts = item.start(node, options or ScenarioOptions())
                report(f"scenario {item.name}: {_facts(facts)}")
            yield node
        finally:
            if traffic is not None:
                traffic.stop()
            torn = down()
            report(f"lab down: {len(torn.namespaces)} namespaces removed")


def _facts(facts: ScenarioReport) -> str:
    return ", ".join(f"{key}={value}" for key, value in facts.facts)
