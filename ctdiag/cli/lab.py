"""``ctdiag lab``: build, inspect and tear down the conntrack lab, and switch scenarios.

Wired into ``python -m ctdiag`` by :func:`add_parser`; :func:`run` returns the exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from ctdiag.cli import help_of
from ctdiag.errors import LabError
from ctdiag.lab.lifecycle import down, status, up
from ctdiag.lab.scenario_model import ScenarioOptions
from ctdiag.lab.scenarios import SCENARIOS, scenario
from ctdiag.lab.state import effective_services, load_state
from ctdiag.lab.topology import LabNode, default_lab
from ctdiag.lab.traffic import TrafficPlan, start_traffic

EXIT_OK = 0
EXIT_NOT_UP = 1


def add_parser(subparsers: Any) -> None:
    """Add the ``lab`` command and its subcommands to ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help=help_of("lab"),
        description=(
            "Build a node from network namespaces (prefix ctdlab-) with pods and Services "
            "wired like kube-proxy's iptables mode, and switch on problems the checks must "
            "catch. Needs root. `down` removes everything, also after a crash."
        ),
    )
    sub = p.add_subparsers(dest="lab_command", required=True, metavar="SUBCOMMAND")
    up_p = sub.add_parser("up", help="build the lab (replacing any previous one)")
    up_p.add_argument(
        "--traffic",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also start background traffic that stops by itself after SECONDS",
    )
    sub.add_parser("down", help="remove every ctdlab- namespace and process")
    api = sub.add_parser(
        "api", help="serve the lab API for the lab that is up, until Ctrl-C",
        description="Serve a Kubernetes API whose node ctdlab-node1 execs in the lab, and "
                    "write its kubeconfig: try `pytest --node ctdlab-node1 --kubeconfig "
                    "PATH` or `python -m ctdiag conntrack ctdlab-node1 --kubeconfig PATH`.",
    )  # fmt: skip
    api.add_argument("--kubeconfig", default="reports/lab.kubeconfig", metavar="PATH",
                     help="where to write the kubeconfig (default reports/lab.kubeconfig)")
    sub.add_parser("status", help="print the lab's namespaces, processes and Services")
    sc = sub.add_parser("scenario", help="switch a problem on (or off with --stop)")
    sc.add_argument("name", choices=sorted(SCENARIOS), help="scenario to switch")
    sc.add_argument("--stop", action="store_true", help="revert the scenario")
    defaults = ScenarioOptions()
    sc.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    sc.add_argument("--fraction", type=float, default=defaults.fraction,
                    help="table_pressure: target count / nf_conntrack_max")  # fmt: skip
    sc.add_argument("--rate", type=float, default=defaults.rate,
                    help="invalid_storm: packets per second")  # fmt: skip
    sc.add_argument("--flows", type=int, default=defaults.flows,
                    help="unreplied_flood: flows per protocol")  # fmt: skip
    sc.add_argument(
        "--assured",
        action="store_true",
        help="table_pressure: ASSURED flows, so overflow is dropped, not evicted",
    )
    p.set_defaults(run=run)


def _print_status(node: LabNode, out: TextIO) -> int:
    current = status()
    if current.empty:
        out.write("lab is down: no ctdlab- namespace\n")
        return EXIT_NOT_UP
    out.write("namespaces:\n")
    for ns in current.namespaces:
        out.write(f"  {ns}\n")
    out.write("processes:\n")
    for proc in current.processes:
        out.write(f"  {proc.namespace} {proc.pid} {proc.command}\n")
    state = load_state()
    out.write("services:\n")
    for svc in effective_services(node, state):
        eps = ", ".join(str(e) for e in svc.endpoints) or "no endpoints"
        node_port = f" nodePort {svc.node_port}" if svc.node_port else ""
        missing = " [ClusterIP rule removed]" if svc.name in state.missing_portals else ""
        out.write(f"  {svc.service_port_name} {svc.cluster_ip}:{svc.port}/{svc.protocol.value}"
                  f"{node_port} -> {eps}{missing}\n")  # fmt: skip
    out.write(f"active scenarios: {', '.join(state.active) or 'none'}\n")
    return EXIT_OK


def _serve_api(node: LabNode, kubeconfig: Path, out: TextIO) -> int:
    from ctdiag.lab.apiserver.cluster import LabApiNode, lab_services_from_topology
    from ctdiag.lab.apiserver.server import serve_lab_api

    if status().empty:
        raise LabError("the lab is down; run `ctdiag lab up` first")
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    api_node = LabApiNode(name=node.namespace, netns=node.namespace, ip=node.node_ip)
    with serve_lab_api([api_node], services=lab_services_from_topology(node),
                       kubeconfig=kubeconfig) as api:  # fmt: skip
        out.write(f"lab API at {api.url}, node {api_node.name}; kubeconfig {kubeconfig}\n"
                  "Ctrl-C to stop\n")  # fmt: skip
        out.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            out.write("lab API stopped\n")
    return EXIT_OK


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Carry out ``ctdiag lab ...``; returns the exit status.

    Raises:
        LabError: not root, or the lab is not up for a scenario.
    """
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, iptables, sysctls)")
    node = default_lab()
    command = args.lab_command
    if command == "up":
        up(node)
        out.write(f"lab up: node {node.namespace}, {len(node.pods)} pods, "
                  f"{len(node.services)} services\n")  # fmt: skip
        if args.traffic > 0:
            start_traffic(node, TrafficPlan(duration=args.traffic))
            out.write(f"background traffic for {args.traffic:g} s\n")
        return EXIT_OK
    if command == "down":
        removed = down()
        out.write(f"lab down: {len(removed.namespaces)} namespaces, "
                  f"{removed.processes_killed} processes, {removed.seconds:.2f} s\n")  # fmt: skip
        return EXIT_OK
    if command == "status":
        return _print_status(node, out)
    if command == "api":
        return _serve_api(node, Path(args.kubeconfig), out)
    if status().empty:
        raise LabError("the lab is down; run `ctdiag lab up` first")
    chosen = scenario(args.name)
    if args.stop:
        chosen.stop(node)
        out.write(f"scenario {chosen.name} reverted\n")
        return EXIT_OK
    options = ScenarioOptions(
        duration=args.duration,
        fraction=args.fraction,
        rate=args.rate,
        flows=args.flows,
        assured=args.assured,
    )
    started = chosen.start(node, options)
    out.write(f"scenario {started.name} on ({chosen.description})\n")
    for key, value in started.facts:
        out.write(f"  {key} = {value}\n")
    return EXIT_OK
