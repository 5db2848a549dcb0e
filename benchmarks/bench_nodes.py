"""Fleet benchmark: the real suite on 50 lab nodes (2 s pod start latency) against one node.

Usage (root; everything it makes is removed at the end whatever happens)::

    python benchmarks/bench_nodes.py [--repeat 3] [--quick]

Set-up, in this process: one scratch network namespace ``ctdtest-bench-PID`` with an nft
rule ``ct state new accept`` in an output hook (so its own traffic is tracked) and a small
real table, refilled before every run (``conntrack -F``, then a short bounded Python loop
inside the namespace: TCP connections to a local listener, answered and unanswered UDP), and
the lab API server (on a thread of this process) with 50 nodes ``worker-00`` ..
``worker-49``, all backed by that namespace, ``LabFaults(pod_start_latency_s=2.0)``.

Each run is the suite as users run it, in a subprocess from the project root::

    .venv/bin/python -m pytest checks -p no:cacheprovider -q --kubeconfig KCFG \\
        (--node worker-00 | --all-nodes) --sample-seconds S [--max-parallel N]

timed from the spawn to its exit. Runs alternate one node / all nodes, ``--repeat`` times
each with ``--sample-seconds 2`` (the goal: 50 nodes <= 2x one node, default
``--max-parallel``) and one fewer with ``--sample-seconds 0``; then once with
``--max-parallel 50``. A run counts when pytest exits 0 or 1 (1: checks found problems, as
the lab's untuned sysctls do), with no ERROR, as many outcomes per node as one node has, and
no pod left on the server at its exit. Pods created = ``POST .../pods`` in the server's log.

The suite runs with a bytecode cache, as a default Python does (a private
``PYTHONPYCACHEPREFIX`` in ``/dev/shm``, filled by one untimed run, removed at the end;
``PYTHONDONTWRITEBYTECODE`` dropped); ``--no-pyc-cache`` runs it in this environment as is.

Where the time goes: every output chunk of the run is timestamped as it arrives
(``PYTHONUNBUFFERED``), which times the ``[ctdiag]`` progress lines and the test outcomes;
a sampler thread times the server's request and exec logs and reads CPU counters (pytest's
``/proc/PID/stat``, this process's and its reaped children's, the machine's ``/proc/stat``)
every 25 ms. The phases of the median run of each configuration are printed from these.
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scratch import abandoned, scratch_netns, sh, sweep_netns  # benchmarks/: the script's folder

ROOT = Path(__file__).resolve().parent.parent
NODES = 50
NETNS_PREFIX = "ctdtest-bench-"
PYC_PREFIX = "ctdiag-bench-pyc-"
POD_START_LATENCY_S = 2.0
GOAL_RATIO = 2.0
SAMPLE_S = 2.0
#: A run is stopped (SIGTERM, then SIGKILL) after this long; a normal one takes ~12 s.
RUN_TIMEOUT_S = 100.0
SAMPLER_PERIOD_S = 0.025
SETUP_TIMEOUT_S = 20.0
OUTCOMES = frozenset(".FEsxX")
#: Flows made before every run: TCP connections to a listener (closed: TIME_WAIT), DNS-like
#: answered UDP, and UDP nobody answers. Bounded: at most a few seconds, then it exits.
FLOWS_SCRIPT = """
import socket
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 8080))
srv.listen(256)
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.bind(("127.0.0.1", 53))
dns.settimeout(2)
held = []
for _ in range(150):
    c = socket.create_connection(("127.0.0.1", 8080), timeout=2)
    a, _ = srv.accept()
    c.sendall(b"GET / HTTP/1.1\\r\\n\\r\\n"); a.recv(64); a.sendall(b"HTTP/1.1 200 OK\\r\\n\\r\\n")
    c.recv(64)
    held += [c, a]
for _ in range(100):
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.sendto(b"query", ("127.0.0.1", 53))
    data, peer = dns.recvfrom(512)
    dns.sendto(b"answer", peer)
    q.settimeout(2); q.recv(512); q.close()
for port in range(9000, 9050):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("127.0.0.1", port)); u.close()
for s in held:
    s.close()
"""


# --- set-up and clean-up ------------------------------------------------------------------


def sweep_abandoned() -> None:
    """Remove namespaces and bytecode caches of killed earlier runs (their pid is gone)."""
    sweep_netns(NETNS_PREFIX)
    for path in Path("/dev/shm").glob(f"{PYC_PREFIX}*"):
        if abandoned(path.name, PYC_PREFIX):
            shutil.rmtree(path, ignore_errors=True)


def refill_table(netns: str) -> int:
    """Flush the namespace's table, make the flows again; the entry count."""
    sh("ip", "netns", "exec", netns, "conntrack", "-F")
    sh("ip", "netns", "exec", netns, "python3", "-c", FLOWS_SCRIPT)
    return int(sh("ip", "netns", "exec", netns, "conntrack", "-C").strip())


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _say(message: str) -> None:
    print(f"[bench_nodes] {message}", file=sys.stderr, flush=True)


# --- one run --------------------------------------------------------------------------------


@dataclass
class Run:
    """One pytest run: what it printed when, and what the server saw when."""

    label: str
    nodes: int
    max_parallel: int
    sample_s: float
    flows: int
    wall: float = 0.0
    returncode: int | None = None
    output: str = ""
    #: (byte offset in ``output``, seconds since spawn) of every chunk read.
    chunks: list[tuple[int, float]] = field(default_factory=list)
    #: (seconds since spawn, method, path) of every request the server logged.
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    #: (seconds since spawn, pod, argv) of every exec that reached the runtime.
    execs: list[tuple[float, str, tuple[str, ...]]] = field(default_factory=list)
    pods_left: int = -1
    #: CPU seconds (user + system): the pytest process, this process (the API server, the
    #: sampler), and the programs exec ran for the suite (children of this process).
    cpu: dict[str, float] = field(default_factory=dict)
    #: (seconds since spawn, CPU s of: pytest, this process, its reaped children, the machine).
    cpu_samples: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    problem: str = ""

    @property
    def pods_created(self) -> int:
        return sum(m == "POST" and bool(_PODS.fullmatch(p.split("?")[0]))
                   for _, m, p in self.requests)  # fmt: skip

    @property
    def ok(self) -> bool:
        return not self.problem


_PODS = re.compile(r"/api/v1/namespaces/[^/]+/pods")
_SUMMARY = re.compile(r"(\d+) (failed|passed|skipped|errors?|xfailed|xpassed|deselected)\b")


class _Sampler(threading.Thread):
    """Timestamps new entries of the server's request and exec logs while a run lasts."""

    def __init__(self, api: Any, run: Run, start: float) -> None:
        super().__init__(name="bench-nodes-sampler", daemon=True)
        self._api, self._run, self._start = api, run, start
        self._seen_requests = len(api.requests())
        self._seen_execs = len(api.exec_log())
        self.stop = threading.Event()
        self.pid = 0

    def poll(self) -> None:
        now = time.perf_counter() - self._start
        requests, execs = self._api.requests(), self._api.exec_log()
        for method, path in requests[self._seen_requests:]:
            self._run.requests.append((now, method, path))
        for _, pod, argv in execs[self._seen_execs:]:
            self._run.execs.append((now, pod, argv))
        self._seen_requests, self._seen_execs = len(requests), len(execs)
        mine = _stat_ticks("self")
        theirs = _stat_ticks(str(self.pid)) if self.pid else None
        if mine is not None and theirs is not None:
            self._run.cpu_samples.append((now, theirs[0], mine[0], mine[1], _system_busy()))

    def run(self) -> None:
        while not self.stop.wait(SAMPLER_PERIOD_S):
            self.poll()


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat_ticks(pid: str) -> tuple[float, float] | None:
    """CPU seconds of a process (user + system), and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    own = (int(fields[11]) + int(fields[12])) * _TICK_S
    return own, (int(fields[13]) + int(fields[14])) * _TICK_S


def _system_busy() -> float:
    """CPU seconds the whole machine spent not idle (``/proc/stat``: all but idle, iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) * _TICK_S


def suite_env(pyc_prefix: Path | None) -> dict[str, str]:
    """The suite's environment: ours, unbuffered, and with a bytecode cache when asked (a
    private ``PYTHONPYCACHEPREFIX``: nothing is written into the project tree)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if pyc_prefix is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pyc_prefix)
    return env


def run_suite(api: Any, run: Run, env: dict[str, str]) -> Run:
    """The suite in a subprocess, its output and the server's logs timestamped."""
    argv = [str(ROOT / ".venv/bin/python"), "-m", "pytest", "checks", "-p", "no:cacheprovider",
            "-q", "--kubeconfig", str(api.kubeconfig), "--sample-seconds", f"{run.sample_s:g}"]
    argv += ["--node", "worker-00"] if run.nodes == 1 else ["--all-nodes"]
    if run.max_parallel != 10:
        argv += ["--max-parallel", str(run.max_parallel)]
    out = bytearray()
    self0, children0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    pytest_cpu: float | None = None
    start = time.perf_counter()
    sampler = _Sampler(api, run, start)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env)
    sampler.pid = proc.pid
    sampler.start()
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    try:
        while True:
            left = RUN_TIMEOUT_S - (time.perf_counter() - start)
            if left <= 0:
                run.problem = f"stopped after {RUN_TIMEOUT_S:g} s"
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                break
            run.chunks.append((len(out), time.perf_counter() - start))
            out += data
        if run.problem:
            proc.terminate()  # SIGTERM: the suite unwinds and deletes its pods
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        else:  # reaped here, for its own CPU time
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            pytest_cpu = usage.ru_utime + usage.ru_stime
        run.returncode = proc.wait()
        run.wall = time.perf_counter() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        sampler.stop.set()
        sampler.join()
        sampler.poll()
    run.output = out.decode(errors="replace")
    run.pods_left = len(api.pods())
    if pytest_cpu is not None:
        time.sleep(0.1)  # the server reaps its last exec'd programs
        execs = _cpu(resource.RUSAGE_CHILDREN) - children0 - pytest_cpu
        run.cpu = {"pytest": pytest_cpu, "server": _cpu(resource.RUSAGE_SELF) - self0,
                   "execs": execs}  # fmt: skip
    _check(run)
    return run


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _check(run: Run) -> None:
    tail = run.output.strip().splitlines()[-1:] or [""]
    run.counts = {}
    for number, kind in _SUMMARY.findall(tail[0]):
        run.counts[kind.rstrip("s") if kind.startswith("error") else kind] = int(number)
    if run.problem:
        return
    if run.returncode not in (0, 1):
        run.problem = f"pytest exited {run.returncode}: {tail[0][:200]}"
    elif run.counts.get("error"):
        run.problem = f"{run.counts['error']} ERRORs (unreachable node?): {tail[0][:200]}"
    elif run.pods_left:
        run.problem = f"{run.pods_left} pods left on the server"


# --- where the time went ----------------------------------------------------------------------


def _time_at(run: Run, offset: int) -> float:
    starts = [o for o, _ in run.chunks]
    return run.chunks[max(0, bisect.bisect_right(starts, offset) - 1)][1]


def progress_lines(run: Run) -> list[tuple[float, str, str]]:
    """``(seconds, node, message)`` of every ``[ctdiag] NODE: message`` line."""
    return [(_time_at(run, m.start()), m[1], m[2])
            for m in re.finditer(r"\[ctdiag\] ([^:\n]+): ([^\n]*)", run.output)]  # fmt: skip


def outcome_times(run: Run) -> list[float]:
    """When each test outcome character (``.F s E``) was printed."""
    times: list[float] = []
    offset = 0
    for line in run.output.splitlines(keepends=True):
        if line.startswith("="):
            break
        for i, char in enumerate(line):
            if char not in OUTCOMES:
                break
            times.append(_time_at(run, offset + i))
        offset += len(line)
    return times


def phases(run: Run, first_snapshot_execs: int | None) -> list[tuple[str, float, float]]:
    """``(phase, from, to)`` seconds since spawn."""
    out: list[tuple[str, float, float]] = []
    reqs = run.requests
    ns_post = next((t for t, m, p in reqs if m == "POST" and p.startswith("/api/v1/namespaces")
                    and not _PODS.fullmatch(p.split("?")[0])), None)  # fmt: skip
    pod_posts = [t for t, m, p in reqs if m == "POST" and _PODS.fullmatch(p.split("?")[0])]
    first_req = reqs[0][0] if reqs else None
    lines = progress_lines(run)
    running = [t for t, _, msg in lines if msg.startswith("debug pod ") and msg.endswith("running")]
    collected = [t for t, _, msg in lines if msg.startswith("collected ")]
    deletes = [t for t, m, _ in reqs if m == "DELETE"]
    execs = run.execs
    results = outcome_times(run)
    if first_req is not None:
        out.append(("spawn -> first API request (python, pytest, plugins)", 0.0, first_req))
    if first_req is not None and ns_post is not None:
        out.append(("first request -> namespace created (node list, connect)", first_req,
                    ns_post))  # fmt: skip
    if ns_post is not None and pod_posts:
        out.append((f"pod creates ({len(pod_posts)} POSTs)", ns_post, max(pod_posts)))
    if pod_posts and running:
        out.append(("last create -> last pod seen running (2 s start latency)", max(pod_posts),
                    max(running)))  # fmt: skip
    if execs:
        per_pod: dict[str, list[float]] = {}
        for t, pod, _ in execs:
            per_pod.setdefault(pod, []).append(t)
        out.append((f"execs: first -> last ({len(execs)} execs, {len(per_pod)} pods)",
                    execs[0][0], execs[-1][0]))  # fmt: skip
        if first_snapshot_execs and run.sample_s > 0:
            ends = [ts[min(first_snapshot_execs, len(ts)) - 1] for ts in per_pod.values()]
            follow = [ts[first_snapshot_execs] for ts in per_pod.values()
                      if len(ts) > first_snapshot_execs]  # fmt: skip
            out.append((f"  first snapshots ({first_snapshot_execs} execs/node): first -> last "
                        "node's last exec", execs[0][0], max(ends)))  # fmt: skip
            if follow:
                out.append(("  follow-ups (after the window): first -> last start",
                            min(follow), max(follow)))  # fmt: skip
    if collected:
        out.append(("'collected' lines: first -> last", min(collected), max(collected)))
    if results:
        out.append((f"test outcomes printed: first -> last ({len(results)})", results[0],
                    results[-1]))  # fmt: skip
    if deletes:
        out.append((f"DELETEs: first -> last ({len(deletes)})", deletes[0], deletes[-1]))
        last_output = run.chunks[-1][1]
        out.append(("last DELETE -> last output (failures, summaries)", deletes[-1],
                    last_output))  # fmt: skip
        out.append(("last output -> process exit", last_output, run.wall))
    return out


def cores_busy(run: Run, start: float, end: float) -> str:
    """CPU used per second of wall time between ``start`` and ``end`` (sampled: >= 0.2 s)."""
    samples = run.cpu_samples
    if end - start < 0.2 or len(samples) < 2:
        return ""
    times = [s[0] for s in samples]
    i = max(0, bisect.bisect_left(times, start) - 1)
    j = min(len(samples) - 1, bisect.bisect_left(times, end))
    span = samples[j][0] - samples[i][0]
    if span <= 0:
        return ""
    rates = [(samples[j][c] - samples[i][c]) / span for c in (1, 2, 3, 4)]
    return " / ".join(f"{r:.2f}" for r in rates)


def execs_per_node(runs: Sequence[Run]) -> int | None:
    """Execs one node's first snapshot takes: all of a ``--sample-seconds 0`` run's."""
    for run in runs:
        if run.ok and run.sample_s == 0 and run.execs:
            pods = {pod for _, pod, _ in run.execs}
            return len(run.execs) // len(pods)
    return None


# --- report ---------------------------------------------------------------------------------


def _median_run(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda r: r.wall)
    return ordered[(len(ordered) - 1) // 2]


def report(runs: list[Run], flows: list[int], cache: str, loads: list[float]) -> None:
    groups: dict[tuple[int, int, float], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.nodes, run.max_parallel, run.sample_s), []).append(run)
    per_node = {r.sample_s: sum(r.counts.values()) for r in runs if r.nodes == 1 and r.ok}
    for run in runs:
        expected = per_node.get(run.sample_s)
        if run.ok and expected and sum(run.counts.values()) != expected * run.nodes:
            run.problem = (f"{sum(run.counts.values())} outcomes, expected {expected} per node "
                           f"x {run.nodes}")  # fmt: skip
    base: dict[float, float] = {}
    for (nodes, _, sample_s), group in groups.items():
        good = [r.wall for r in group if r.ok]
        if nodes == 1 and good:
            base[sample_s] = statistics.median(good)
    print(f"{os.cpu_count()} CPUs; {NODES} lab nodes in one netns ({min(flows)}-{max(flows)} "
          f"tracked flows, refilled before each run), pod_start_latency_s "
          f"{POD_START_LATENCY_S:g}; lab API server in this process, pytest in a subprocess")
    print(f"{cache}; 1-min load average {loads[0]:.2f} before, {loads[1]:.2f} after (the "
          "machine is shared: 'whole machine' minus ours below is someone else's load)")
    print()
    print("| nodes | --max-parallel | --sample-seconds | wall s (median) | all runs | "
          "ratio vs 1 node | pods created | pods left | tests (per run) | valid "
          "| CPU s of the median run: pytest + API server + exec'd programs (cores busy) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (nodes, mp, sample_s), group in groups.items():
        good = [r for r in group if r.ok]
        walls = ", ".join(f"{r.wall:.2f}" + ("" if r.ok else "!") for r in group)
        med = statistics.median(r.wall for r in good) if good else None
        ratio = f"{med / base[sample_s]:.2f}x" if med and sample_s in base else "n/a"
        created = "/".join(str(r.pods_created) for r in group)
        left = "/".join(str(r.pods_left) for r in group)
        counts = group[0].counts
        tests = ", ".join(f"{v} {k}" for k, v in counts.items())
        shown = f"{med:.2f}" if med is not None else "no valid run"
        cpu = _median_run(good).cpu if good else {}
        used = (
            f"{cpu['pytest']:.1f} + {cpu['server']:.1f} + {cpu['execs']:.1f} = "
            f"{sum(cpu.values()):.1f} ({sum(cpu.values()) / _median_run(good).wall:.2f} "
            f"of {os.cpu_count()})" if cpu else "n/a"
        )  # fmt: skip
        print(f"| {nodes} | {mp} | {sample_s:g} | {shown} | {walls} | {ratio} | {created} "
              f"| {left} | {tests} | {len(good)}/{len(group)} | {used} |")  # fmt: skip
    for run in runs:
        if not run.ok:
            print(f"  ! {run.label}: {run.problem}")
    print()
    k = execs_per_node(runs)
    one, fleet = base.get(SAMPLE_S), None
    fleet_runs = [r.wall for r in groups.get((NODES, 10, SAMPLE_S), []) if r.ok]
    if fleet_runs:
        fleet = statistics.median(fleet_runs)
    if one and fleet:
        ratio = fleet / one
        verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"
        print(f"goal: {NODES} nodes <= {GOAL_RATIO:g}x one node (--sample-seconds {SAMPLE_S:g}, "
              f"default --max-parallel): {fleet:.2f} s / {one:.2f} s = {ratio:.2f}x -> {verdict}")
    else:
        print("goal: no valid pair of runs -> FAIL")
    print()
    print(f"Where the time goes (median run of each configuration; seconds since spawn; "
          f"server logs sampled every {SAMPLER_PERIOD_S * 1000:.0f} ms, output chunks "
          f"timestamped on arrival; first snapshot = {k} execs per node):")
    for (nodes, mp, sample_s), group in groups.items():
        good = [r for r in group if r.ok]
        if not good:
            continue
        run = _median_run(good)
        print()
        print(f"{nodes} node(s), --max-parallel {mp}, --sample-seconds {sample_s:g}: "
              f"{run.wall:.2f} s")
        print("| phase | from | to | seconds "
              "| cores busy: pytest / API server / exec'd / whole machine |")
        print("|---|---|---|---|---|")
        for name, start, end in phases(run, k):
            print(f"| {name} | {start:.2f} | {end:.2f} | {end - start:.2f} "
                  f"| {cores_busy(run, start, end)} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each configuration (with --sample-seconds 0: one fewer)")
    parser.add_argument("--quick", action="store_true", help="one run of each configuration")
    parser.add_argument("--no-pyc-cache", action="store_true",
                        help="run the suite in this environment as it is, without the private, "
                             "warmed bytecode cache (PYTHONDONTWRITEBYTECODE, when set, stays)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_nodes.py: skipped, needs root (a scratch network namespace)")
        return
    repeat = 1 if args.quick else max(1, args.repeat)
    repeat0 = 1 if args.quick else max(1, repeat - 1)
    signal.signal(signal.SIGTERM, _terminate)
    sweep_abandoned()
    from ctdiag.lab.apiserver.cluster import LabApiNode
    from ctdiag.lab.apiserver.faults import LabFaults
    from ctdiag.lab.apiserver.server import serve_lab_api

    plan: list[tuple[int, int, float]] = []
    for _ in range(repeat0):
        plan += [(1, 10, 0.0), (NODES, 10, 0.0)]
    for _ in range(repeat):
        plan += [(1, 10, SAMPLE_S), (NODES, 10, SAMPLE_S)]
    plan.append((NODES, NODES, SAMPLE_S))
    runs: list[Run] = []
    flows: list[int] = []
    pyc = None if args.no_pyc_cache else Path(f"/dev/shm/{PYC_PREFIX}{os.getpid()}")
    env = suite_env(pyc)
    loads = [os.getloadavg()[0]]
    try:
        with scratch_netns(NETNS_PREFIX, track_new=True) as netns:
            nodes = [LabApiNode(f"worker-{i:02d}", netns) for i in range(NODES)]
            faults = LabFaults(pod_start_latency_s=POD_START_LATENCY_S)
            with serve_lab_api(nodes, faults=faults) as api:
                if pyc is not None:  # untimed: fills the bytecode cache, as any earlier run would
                    refill_table(netns)
                    warm = run_suite(api, Run("warm-up", 1, 10, 0.0, 0), env)
                    _say(f"warm-up run (bytecode cache {pyc}): {warm.wall:.2f} s, "
                         f"{warm.problem or 'ok'}")  # fmt: skip
                for i, (count, mp, sample_s) in enumerate(plan, 1):
                    flows.append(refill_table(netns))
                    label = f"run {i}/{len(plan)}: {count} node(s), --max-parallel {mp}, " \
                            f"--sample-seconds {sample_s:g}"  # fmt: skip
                    run = run_suite(api, Run(label, count, mp, sample_s, flows[-1]), env)
                    runs.append(run)
                    _say(f"{label}: {run.wall:.2f} s, exit {run.returncode}, "
                         f"{run.pods_created} pods created, {run.pods_left} left, "
                         f"{run.counts}{'' if run.ok else ' PROBLEM: ' + run.problem}")
    finally:
        if pyc is not None:
            shutil.rmtree(pyc, ignore_errors=True)
    loads.append(os.getloadavg()[0])
    inherited = "PYTHONDONTWRITEBYTECODE=1" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    if pyc is None:
        cache = f"bytecode cache: as inherited{' (' + inherited + ')' if inherited else ''}"
    else:
        cache = ("bytecode cache: on (private PYTHONPYCACHEPREFIX, warmed by one untimed run"
                 f"{'; ' + inherited + ' of this environment dropped' if inherited else ''})")
    report(runs, flows, cache, loads)


if __name__ == "__main__":
    main()
