"""Bring the lab up, tear it down (idempotently, even after a crash), and report what exists.

``down`` trusts nothing but the kernel: it lists namespaces by prefix, kills whatever runs
inside them, and deletes them, so it also cleans up after a lab whose builder died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ctdiag.errors import LabError
from ctdiag.lab import rules
from ctdiag.lab.netns import (
    STATE_DIR,
    lab_namespaces,
    namespace_pids,
    process_command,
    run,
    spawn_program,
    terminate,
    write_sysctl,
)
from ctdiag.lab.state import LabState, save_state, sync_rules
from ctdiag.lab.topology import LabNode, LabPod, PodRole, default_lab

POD_LINK = "ctdlab-eth0"
SERVERS_MODULE = "ctdiag.lab.servers"
#: kube-proxy's conntrack settings (``--conntrack-tcp-timeout-*``): the sane baseline.
NODE_SYSCTLS: tuple[tuple[str, str], ...] = (
    ("net.ipv4.ip_forward", "1"),
    # table_pressure's assured mode sends its flows' replies from the sink pod toward the
    # client; strict reverse-path filtering must not depend on the host's defaults.
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
    ("net.netfilter.nf_conntrack_acct", "1"),
    ("net.netfilter.nf_conntrack_tcp_timeout_established", "86400"),
    ("net.netfilter.nf_conntrack_tcp_timeout_close_wait", "3600"),
)
READY_TIMEOUT = 10.0
#: Outside the state directory on purpose: ``down`` must not delete a lock someone holds.
LOCK_FILE = Path("/run/ctdlab.lock")
#: Names a descriptor holding the lab lock that a parent handed to this process.
LOCK_FD_VARIABLE = "CTDIAG_LAB_LOCK_FD"


@dataclass(frozen=True, slots=True)
class LabProcess:
    """A process found inside a lab namespace."""

    namespace: str
    pid: int
    command: str


@dataclass(frozen=True, slots=True)
class LabStatus:
    """What exists now: lab namespaces and the processes inside them."""

    namespaces: tuple[str, ...]
    processes: tuple[LabProcess, ...]

    @property
    def empty(self) -> bool:
        return not self.namespaces


@dataclass(frozen=True, slots=True)
class TeardownReport:
    """What ``down`` removed."""

    namespaces: tuple[str, ...]
    processes_killed: int
    seconds: float


def _ip(namespace: str, *args: str) -> None:
    run(["ip", "-n", namespace, *args])


def _wire_pod(node: LabNode, pod: LabPod) -> None:
    run(["ip", "netns", "add", pod.namespace])
    _ip(pod.namespace, "link", "set", "lo", "up")
    _ip(node.namespace, "link", "add", pod.node_link, "type", "veth",
        "peer", "name", POD_LINK, "netns", pod.namespace)  # fmt: skip
    # Every pod link carries the gateway address: ARP for it is answered on each link.
    _ip(node.namespace, "addr", "add", f"{node.gateway}/32", "dev", pod.node_link)
    _ip(node.namespace, "link", "set", pod.node_link, "up")
    _ip(node.namespace, "route", "add", f"{pod.ip}/32", "dev", pod.node_link, "scope", "link")
    _ip(pod.namespace, "addr", "add", f"{pod.ip}/32", "dev", POD_LINK)
    _ip(pod.namespace, "link", "set", POD_LINK, "up")
    _ip(pod.namespace, "route", "add", node.gateway, "dev", POD_LINK, "scope", "link")
    _ip(pod.namespace, "route", "add", "default", "via", node.gateway, "dev", POD_LINK)


def _wire_node(node: LabNode) -> None:
    ext = node.external
    for ns in (node.namespace, ext.namespace):
        run(["ip", "netns", "add", ns])
        _ip(ns, "link", "set", "lo", "up")
    for name, value in NODE_SYSCTLS:
        write_sysctl(node.namespace, name, value)
    _ip(node.namespace, "link", "add", node.uplink, "type", "veth",
        "peer", "name", ext.link, "netns", ext.namespace)  # fmt: skip
    _ip(node.namespace, "addr", "add", f"{node.node_ip}/{node.prefix_len}", "dev", node.uplink)
    _ip(ext.namespace, "addr", "add", f"{ext.ip}/{node.prefix_len}", "dev", ext.link)
    _ip(node.namespace, "link", "set", node.uplink, "up")
    _ip(ext.namespace, "link", "set", ext.link, "up")
    # ClusterIP traffic that no rule translates leaves by the uplink, as it would follow a
    # node's default route; the external host drops it (it does not forward).
    _ip(node.namespace, "route", "add", node.service_cidr, "via", ext.ip, "dev", node.uplink)


def _start_servers(node: LabNode) -> None:
    for pod in node.pods_with_role(PodRole.WEB):
        spawn_program(pod.namespace, SERVERS_MODULE,
                      ["http", "--bind", pod.ip, "--port", "8080", "--pod", pod.name],
                      log_name=pod.name)  # fmt: skip
    for pod in node.pods_with_role(PodRole.DNS):
        start_dns_server(node, pod)


def start_dns_server(node: LabNode, pod: LabPod) -> None:
    """Start the DNS responder of ``pod``: Service names, and ``whoami.lab`` -> its own IP."""
    records = [f"{svc.name}.default.svc.cluster.local={svc.cluster_ip}" for svc in node.services]
    records.append(f"whoami.lab={pod.ip}")
    args = ["dns", "--bind", "0.0.0.0", "--port", "53"]
    for rec in records:
        args += ["--record", rec]
    spawn_program(pod.namespace, SERVERS_MODULE, args, log_name=pod.name)


def wait_listening(namespace: str, port: int, proto: str, timeout: float = READY_TIMEOUT) -> None:
    """Wait until something listens on ``port`` inside ``namespace``."""
    flag = "-lnt" if proto == "tcp" else "-lnu"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(["ss", "-H", flag], namespace=namespace).stdout
        if any(line.split()[3].endswith(f":{port}") for line in out.splitlines() if line.strip()):
            return
        time.sleep(0.1)
    raise LabError(f"{namespace}: nothing listens on {proto}/{port} after {timeout:g} s")


@contextlib.contextmanager
def exclusive_lab(timeout: float = 300.0) -> Iterator[int]:
    """Hold the machine-wide lab lock: there is one set of ``ctdlab-`` names per machine.

    ``up`` tears down any previous lab, so two users (pytest-xdist workers, a test run and
    a CLI user) would destroy each other's lab; whoever holds this lock owns the lab.

    A holder can hand the lock to a child process (``pytest --lab --lab-reuse`` run by the
    project's tests): it passes the descriptor it yields and names it in
    :data:`LOCK_FD_VARIABLE`; the child then holds the same lock instead of waiting for it.

    Yields:
        the descriptor holding the lock (closed on exit, unless it was handed down).

    Raises:
        LabError: the lock stayed taken for ``timeout`` seconds.
    """
    inherited = _inherited_lock()
    if inherited is not None:
        yield inherited
        return
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"{LOCK_FILE} held by another lab user") from None
                time.sleep(0.2)
        yield fd
    finally:
        os.close(fd)


def lock_handover(fd: int) -> dict[str, str]:
    """The environment that hands lock descriptor ``fd`` to a child (pass it in pass_fds)."""
    return {LOCK_FD_VARIABLE: str(fd)}


def _inherited_lock() -> int | None:
    """The lock descriptor a parent handed down, when it really holds :data:`LOCK_FILE`."""
    value = os.environ.get(LOCK_FD_VARIABLE, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        if not os.path.samestat(os.fstat(fd), os.stat(LOCK_FILE)):
            return None
        # The parent's open file description holds the lock: taking it again succeeds at
        # once; any other holder makes this fail, and the lock is waited for as usual.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None
    return fd


def up(node: LabNode | None = None) -> LabNode:
    """Build the lab (after removing any previous one) and return its description.

    Raises:
        LabError: a step failed; the partial lab is torn down before raising.
        CollectionError: a command failed; likewise.
    """
    node = node or default_lab()
    down()
    try:
        _wire_node(node)
        for pod in node.pods:
            _wire_pod(node, pod)
        for sink in node.pods_with_role(PodRole.SINK):
            run(["iptables-restore", "-w", "5"], namespace=sink.namespace, stdin=rules.SINK_RULES)
        state = LabState()
        sync_rules(node, state)
        save_state(state)
        _start_servers(node)
        for pod in node.pods_with_role(PodRole.WEB):
            wait_listening(pod.namespace, 8080, "tcp")
        for pod in node.pods_with_role(PodRole.DNS):
            wait_listening(pod.namespace, 53, "udp")
    except BaseException:
        down()
        raise
    return node


def down() -> TeardownReport:
    """Kill every process in ``ctdlab-`` namespaces, delete the namespaces and the state dir.

    Safe to call any number of times, and after a crash of whatever built the lab.
    """
    start = time.monotonic()
    names = lab_namespaces()
    pids = sorted({pid for ns in names for pid in namespace_pids(ns)})
    terminate(pids)
    for ns in names:
        # Deleting a namespace with a process still inside would only unname it: kill first.
        run(["ip", "netns", "del", ns], check=False)
    left = lab_namespaces()
    if left:
        raise LabError(f"namespaces survived teardown: {', '.join(left)}")
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    return TeardownReport(tuple(names), len(pids), time.monotonic() - start)


def status() -> LabStatus:
    """The lab namespaces that exist and the processes running in them."""
    names = lab_namespaces()
    procs = tuple(
        LabProcess(ns, pid, process_command(pid)) for ns in names for pid in namespace_pids(ns)
    )
    return LabStatus(tuple(names), procs)
