"""Scenarios that push packets: a table filled toward (or past) its limit, an INVALID storm.

Both run a bounded generator from :mod:`ctdiag.lab.floods` in the client pod.
"""

from __future__ import annotations

import time

from ctdiag.lab import observe
from ctdiag.lab.netns import run_program, spawn_program, terminate_namespace_processes
from ctdiag.lab.scenario_model import (
    FLOODS,
    Scenario,
    ScenarioOptions,
    ScenarioReport,
    client_namespace,
    update_state,
    wait_for,
)
from ctdiag.lab.topology import LabNode, PodRole

# --- table_pressure -------------------------------------------------------------------


def _assured_fill(node: LabNode, flows: int, overflow: int) -> tuple[float, float]:
    """Create ``flows`` ASSURED UDP entries, then offer ``overflow`` more; (fill s, total s)."""
    client, sink = node.pods_with_role(PodRole.CLIENT)[0], node.pods_with_role(PodRole.SINK)[0]
    common = ["pass", "--src", client.ip, "--dst", sink.ip]
    start = time.monotonic()
    run_program(client.namespace, FLOODS, [*common, "--flows", str(flows)], timeout=60)
    created = time.monotonic()
    run_program(sink.namespace, FLOODS, [*common, "--flows", str(flows), "--reverse"], timeout=60)
    # The kernel assures a replied UDP entry on a packet more than 2 s after its creation.
    time.sleep(max(0.0, created + 2.5 - time.monotonic()))
    run_program(client.namespace, FLOODS, [*common, "--flows", str(flows)], timeout=60)
    filled = time.monotonic() - start
    if overflow:
        extra = [*common, "--flows", str(overflow), "--first", str(flows)]
        run_program(client.namespace, FLOODS, extra, timeout=60)
    return filled, time.monotonic() - start


def _pressure_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    if opts.assured:
        return _assured_start(node, opts)
    ns, sink = node.namespace, node.pods_with_role(PodRole.SINK)[0]
    limit = observe.read_max(ns)
    before = observe.read_stats(ns)
    target = int(limit * opts.fraction)
    flows = max(0, target - before.entries)
    client = node.pods_with_role(PodRole.CLIENT)[0]
    spawn_program(client.namespace, FLOODS,
                  ["fill", "--src", client.ip, "--dst", sink.ip, "--flows", str(flows),
                   "--duration", f"{opts.duration:g}"], log_name="table-pressure")  # fmt: skip
    # Exactly full is not overflow: no flow has to be evicted to reach the target.
    overflow = target > limit
    timeout = 10.0 + flows / 50_000

    def reached() -> bool:
        if overflow:
            # Every flow beyond the limit must have evicted an unassured one.
            expected = before.entries + flows - limit
            return observe.read_stats(ns).early_drop - before.early_drop >= 0.9 * expected
        return observe.read_count(ns) >= target * 0.99

    seconds = wait_for(f"{target} entries in {ns}", reached, timeout)
    after = observe.read_stats(ns)
    update_state(lambda s: s.with_active("table_pressure", True))
    return ScenarioReport("table_pressure", (
        ("nf_conntrack_max", str(limit)), ("target", str(target)), ("flows_sent", str(flows)),
        ("count", str(observe.read_count(ns))), ("fill_seconds", f"{seconds:.2f}"),
        ("fill_rate_per_s", f"{flows / max(seconds, 1e-3):.0f}"),
        ("early_drop_delta", str(after.early_drop - before.early_drop)),
        ("drop_delta", str(after.drop - before.drop)),
    ))  # fmt: skip


def _assured_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    ns = node.namespace
    limit = observe.read_max(ns)
    before = observe.read_stats(ns)
    target = int(limit * opts.fraction)
    # Leave a little room for the lab's own flows; everything past the limit is overflow.
    flows = max(0, min(target, limit - 64) - before.entries)
    overflow = max(0, target - limit)
    update_state(lambda s: s.with_active("table_pressure", True))
    filled, total = _assured_fill(node, flows, overflow)
    after = observe.read_stats(ns)
    return ScenarioReport("table_pressure", (
        ("nf_conntrack_max", str(limit)), ("target", str(target)),
        ("assured_flows_sent", str(flows)), ("overflow_flows_sent", str(overflow)),
        ("count", str(observe.read_count(ns))), ("fill_seconds", f"{filled:.2f}"),
        ("total_seconds", f"{total:.2f}"),
        ("early_drop_delta", str(after.early_drop - before.early_drop)),
        ("drop_delta", str(after.drop - before.drop)),
    ))  # fmt: skip


def _pressure_stop(node: LabNode) -> None:
    terminate_namespace_processes(client_namespace(node), match=f"{FLOODS} ")
    # Entries pin global memory and the shared hash table: do not wait for 30 s timeouts.
    observe.flush(node.namespace)
    update_state(lambda s: s.with_active("table_pressure", False))


# --- invalid_storm --------------------------------------------------------------------


def _invalid_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    # Pod to pod through the node, not via the ClusterIP: the storm must not depend on the
    # Service rules, which other scenarios remove.
    target = node.pods_with_role(PodRole.WEB)[0]
    before = observe.read_stats(node.namespace).invalid
    spawn_program(client_namespace(node), FLOODS,
                  ["invalid", "--dst", target.ip, "--port", "8080",
                   "--rate", f"{opts.rate:g}", "--duration", f"{opts.duration:g}"],
                  log_name="invalid-storm")  # fmt: skip
    seconds = wait_for(
        "the invalid counter grows",
        lambda: observe.read_stats(node.namespace).invalid > before,
        10.0,
    )
    update_state(lambda s: s.with_active("invalid_storm", True))
    return ScenarioReport("invalid_storm", (
        ("target", f"{target.ip}:8080"), ("invalid_before", str(before)),
        ("first_growth_seconds", f"{seconds:.2f}"),
        ("rate", f"{opts.rate:g}"), ("duration", f"{opts.duration:g}"),
    ))  # fmt: skip


def _invalid_stop(node: LabNode) -> None:
    terminate_namespace_processes(client_namespace(node), match=f"{FLOODS} invalid ")
    update_state(lambda s: s.with_active("invalid_storm", False))


TABLE_PRESSURE = Scenario(
    "table_pressure",
    "fill the node's table to a fraction of nf_conntrack_max with real UDP flows "
    "(above 1.0: early_drop; with assured flows: drop)",
    _pressure_start,
    _pressure_stop,
)
INVALID_STORM = Scenario(
    "invalid_storm",
    "scapy-crafted impossible-flag and out-of-window TCP through the node",
    _invalid_start,
    _invalid_stop,
)
