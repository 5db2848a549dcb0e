"""Background traffic from the client pod: long-lived TCP, short HTTP (TIME_WAIT), DNS.

Each stream is a separate ``python -m ctdiag.lab.clients`` process inside the client pod's
namespace, bounded in count and time so that it stops by itself; ``down`` (or
:func:`stop_traffic`) kills whatever is still running.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from ctdiag.errors import LabError
from ctdiag.lab.netns import spawn_program, terminate, terminate_namespace_processes
from ctdiag.lab.topology import LabNode, PodRole

CLIENTS_MODULE = "ctdiag.lab.clients"


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """How much background traffic to generate; every stream ends by ``duration``.

    Attributes:
        duration: seconds after which every stream stops by itself.
        hold_connections: long-lived keep-alive connections to the ``web`` ClusterIP.
        hold_interval: seconds between requests on each held connection.
        http_requests: short requests (each leaves a TIME_WAIT entry).
        http_rate: short requests per second.
        dns_queries: DNS queries to the ``dns`` ClusterIP, each from a new source port.
        dns_rate: queries per second.
    """

    duration: float = 60.0
    hold_connections: int = 4
    hold_interval: float = 2.0
    http_requests: int = 200
    http_rate: float = 20.0
    dns_queries: int = 200
    dns_rate: float = 10.0


@dataclass(frozen=True, slots=True)
class TrafficRun:
    """The client processes of one :func:`start_traffic` call."""

    processes: tuple[subprocess.Popen[bytes], ...]

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every stream to end; True when all did."""
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def stop(self) -> None:
        """Kill the streams that still run (and reap them)."""
        terminate([p.pid for p in self.processes if p.poll() is None])
        for proc in self.processes:
            proc.poll()


def _client(node: LabNode) -> str:
    clients = node.pods_with_role(PodRole.CLIENT)
    if not clients:
        raise LabError("the lab has no client pod")
    return clients[0].namespace


def start_traffic(node: LabNode, plan: TrafficPlan | None = None) -> TrafficRun:
    """Start the three background streams in the client pod and return at once."""
    plan = plan or TrafficPlan()
    ns = _client(node)
    web, dns = node.service("web"), node.service("dns")
    common = ["--duration", f"{plan.duration:g}"]
    streams = {
        "hold": ["--target", web.cluster_ip, "--port", str(web.port),
                 "--connections", str(plan.hold_connections),
                 "--interval", f"{plan.hold_interval:g}"],
        "burst": ["--target", web.cluster_ip, "--port", str(web.port),
                  "--count", str(plan.http_requests), "--rate", f"{plan.http_rate:g}"],
        "dns": ["--target", dns.cluster_ip, "--port", str(dns.port),
                "--count", str(plan.dns_queries), "--rate", f"{plan.dns_rate:g}"],
    }  # fmt: skip
    procs = tuple(
        spawn_program(ns, CLIENTS_MODULE, [kind, *args, *common], log_name=f"traffic-{kind}")
        for kind, args in streams.items()
    )
    return TrafficRun(procs)


def stop_traffic(node: LabNode) -> int:
    """Kill every background-traffic process of the client pod, however it was started.

    Returns:
        How many processes were killed.
    """
    ns = _client(node)
    return sum(
        terminate_namespace_processes(ns, match=f"{CLIENTS_MODULE} {kind} ")
        for kind in ("hold", "burst", "dns")
    )
