"""Problems a check must catch, switched on in the lab on demand and each revertible.

The registry :data:`SCENARIOS` holds them all; this module implements the ones that change
Service rules or tunables, :mod:`ctdiag.lab.pressure` the packet-pushing ones. Background
processes are bounded in count and time and stop by themselves; ``stop`` and ``down`` kill
them earlier.
"""

from __future__ import annotations

from dataclasses import replace

from ctdiag.errors import LabError
from ctdiag.lab import observe
from ctdiag.lab.lifecycle import start_dns_server, wait_listening
from ctdiag.lab.netns import (
    read_sysctl,
    spawn_program,
    terminate_namespace_processes,
    write_sysctl,
)
from ctdiag.lab.pressure import INVALID_STORM, TABLE_PRESSURE
from ctdiag.lab.scenario_model import (
    CLIENTS,
    SERVERS,
    Scenario,
    ScenarioOptions,
    ScenarioReport,
    client_namespace,
    update_state,
    wait_for,
)
from ctdiag.lab.state import load_state, sync_rules
from ctdiag.lab.topology import LabNode, blackhole_service, blackhole_udp_service

STALE_SOURCE_PORT = 40053
#: The tunables ``bad_tunables`` sets, with the values a check must flag (checks guide: tunables).
BAD_TUNABLES: tuple[tuple[str, str], ...] = (
    ("net.netfilter.nf_conntrack_tcp_timeout_established", "432000"),
    ("net.netfilter.nf_conntrack_tcp_timeout_close_wait", "60"),
    ("net.netfilter.nf_conntrack_tcp_loose", "0"),
)


# --- unreplied_flood ------------------------------------------------------------------


def _unreplied_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    state = update_state(lambda s: replace(s.with_active("unreplied_flood", True), blackhole=True))
    sync_rules(node, state)
    for svc in (blackhole_service(node), blackhole_udp_service(node)):
        spawn_program(client_namespace(node), CLIENTS,
                      ["attempts", "--target", svc.cluster_ip, "--port", str(svc.port),
                       "--proto", svc.protocol.value, "--count", str(opts.flows),
                       "--duration", f"{opts.duration:g}"],
                      log_name=f"unreplied-{svc.protocol.value}")  # fmt: skip
    hole = blackhole_service(node).cluster_ip

    def unreplied() -> int:
        flows = observe.read_flows(node.namespace)
        return sum(1 for f in flows if f.orig_dst == hole and f.unreplied)

    seconds = wait_for(
        "UNREPLIED entries toward the blackhole", lambda: unreplied() >= opts.flows, 15.0
    )
    return ScenarioReport("unreplied_flood", (
        ("cluster_ip", hole), ("endpoint", blackhole_service(node).endpoints[0].ip),
        ("unreplied", str(unreplied())), ("seconds", f"{seconds:.2f}"),
    ))  # fmt: skip


def _unreplied_stop(node: LabNode) -> None:
    hole = blackhole_service(node).cluster_ip
    match = f"{CLIENTS} attempts --target {hole} "
    terminate_namespace_processes(client_namespace(node), match=match)
    state = update_state(
        lambda s: replace(s.with_active("unreplied_flood", False), blackhole=False)
    )
    sync_rules(node, state)
    for proto in ("tcp", "udp"):
        observe.delete_flows(node.namespace, proto=proto, orig_dst=hole)


# --- stale_udp ------------------------------------------------------------------------


def _stale_flow(node: LabNode) -> observe.LabFlow | None:
    dns = node.service("dns")
    for flow in observe.read_flows(node.namespace):
        if flow.orig_dst == dns.cluster_ip and flow.orig_sport == STALE_SOURCE_PORT:
            return flow
    return None


def _stale_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    dns = node.service("dns")
    spawn_program(client_namespace(node), CLIENTS,
                  ["steady", "--target", dns.cluster_ip, "--port", str(dns.port),
                   "--source-port", str(STALE_SOURCE_PORT), "--interval", "0.5",
                   "--duration", f"{opts.duration:g}"], log_name="stale-udp")  # fmt: skip
    wait_for("the steady DNS flow is answered", lambda: (f := _stale_flow(node)) is not None
              and not f.unreplied, 10.0)  # fmt: skip
    flow = _stale_flow(node)
    assert flow is not None
    pod = next(p for p in node.pods if p.ip == flow.reply_src)
    # What kube-proxy does when the pod goes away: the endpoint leaves the Service...
    state = update_state(lambda s: replace(
        s.with_active("stale_udp", True),
        removed_endpoints=(*s.removed_endpoints, f"dns/{pod.name}"),
    ))  # fmt: skip
    sync_rules(node, state)
    # ...and the pod stops serving. The entry is left alone: that is the bug being modelled.
    terminate_namespace_processes(pod.namespace, match=SERVERS)
    return ScenarioReport("stale_udp", (
        ("cluster_ip", dns.cluster_ip), ("source_port", str(STALE_SOURCE_PORT)),
        ("removed_pod", pod.name), ("removed_ip", pod.ip),
    ))  # fmt: skip


def _stale_stop(node: LabNode) -> None:
    terminate_namespace_processes(client_namespace(node), match=f"{CLIENTS} steady ")
    removed = [r for r in load_state().removed_endpoints if r.startswith("dns/")]
    state = update_state(lambda s: replace(
        s.with_active("stale_udp", False),
        removed_endpoints=tuple(r for r in s.removed_endpoints if r not in removed),
    ))  # fmt: skip
    for item in removed:
        pod = node.pod(item.split("/", 1)[1])
        terminate_namespace_processes(pod.namespace, match=SERVERS)
        start_dns_server(node, pod)
        wait_listening(pod.namespace, 53, "udp")
    sync_rules(node, state)
    observe.delete_flows(node.namespace, proto="udp", orig_dst=node.service("dns").cluster_ip)


# --- missing_dnat ---------------------------------------------------------------------


def _missing_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    web = node.service("web")
    state = update_state(lambda s: replace(
        s.with_active("missing_dnat", True),
        missing_portals=tuple({*s.missing_portals, "web"}),
    ))  # fmt: skip
    sync_rules(node, state)
    spawn_program(client_namespace(node), CLIENTS,
                  ["attempts", "--target", web.cluster_ip, "--port", str(web.port),
                   "--count", "20", "--duration", f"{opts.duration:g}"],
                  log_name="missing-dnat")  # fmt: skip

    def untranslated() -> int:
        flows = observe.read_flows(node.namespace)
        return sum(1 for f in flows if f.orig_dst == web.cluster_ip and not f.dnat)

    wait_for("untranslated entries toward the web ClusterIP", lambda: untranslated() >= 20, 10.0)
    return ScenarioReport("missing_dnat", (
        ("service", "web"), ("cluster_ip", web.cluster_ip), ("untranslated", str(untranslated())),
    ))  # fmt: skip


def _missing_stop(node: LabNode) -> None:
    web = node.service("web")
    match = f"{CLIENTS} attempts --target {web.cluster_ip} "
    terminate_namespace_processes(client_namespace(node), match=match)
    state = update_state(lambda s: replace(
        s.with_active("missing_dnat", False),
        missing_portals=tuple(p for p in s.missing_portals if p != "web"),
    ))  # fmt: skip
    sync_rules(node, state)
    observe.delete_flows(node.namespace, proto="tcp", orig_dst=web.cluster_ip)


# --- bad_tunables ---------------------------------------------------------------------


def _tunables_start(node: LabNode, opts: ScenarioOptions) -> ScenarioReport:
    ns = node.namespace
    saved = load_state().saved_sysctls or tuple(
        (name, read_sysctl(ns, name)) for name, _ in BAD_TUNABLES
    )
    update_state(lambda s: replace(s.with_active("bad_tunables", True), saved_sysctls=saved))
    facts: list[tuple[str, str]] = []
    for name, value in BAD_TUNABLES:
        write_sysctl(ns, name, value)
        facts.append((name, read_sysctl(ns, name)))
    return ScenarioReport("bad_tunables", tuple(facts))


def _tunables_stop(node: LabNode) -> None:
    state = load_state()
    for name, value in state.saved_sysctls:
        write_sysctl(node.namespace, name, value)
    update_state(lambda s: replace(s.with_active("bad_tunables", False), saved_sysctls=()))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        TABLE_PRESSURE,
        INVALID_STORM,
        Scenario("unreplied_flood", "SYNs and UDP to a Service whose endpoint drops "
                 "everything", _unreplied_start, _unreplied_stop),
        Scenario("stale_udp", "a UDP flow keeps its DNAT to a DNS endpoint removed from the "
                 "Service", _stale_start, _stale_stop),
        Scenario("missing_dnat", "the web ClusterIP rule is removed; new flows stay "
                 "untranslated", _missing_start, _missing_stop),
        Scenario("bad_tunables", "timeouts and tcp_loose set to values a check must flag",
                 _tunables_start, _tunables_stop),
    )
}  # fmt: skip


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; raises :class:`LabError` for an unknown one."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise LabError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


__all__ = ["SCENARIOS", "Scenario", "ScenarioOptions", "ScenarioReport", "scenario"]
