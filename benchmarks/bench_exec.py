"""Exec benchmark: a 1M-entry conntrack listing fetched from a lab node through the exec
WebSocket, ours against ``kubernetes.stream.stream()``.

Usage (root; everything it makes is removed at the end whatever happens)::

    python benchmarks/bench_exec.py [--repeat 3] [--quick]

Set-up, in this process: a 1,000,000-entry ``conntrack -L -o extended``-style listing
(``gen_dump.py``'s realistic mix of addresses, ports, states and zones, reprinted the way
the CLI prints it: no ``zone=0``, ``use=1``) written once to ``/dev/shm``; a scratch network
namespace ``ctdtest-bench-PID`` as the node's; the lab API server with that one node; one
debug pod (image ``nicolaka/netshoot``: it has ``sh`` and ``gzip``) started through
``DebugPodSession``. The file's ``gzip -1`` ratio and time are measured once (what the node
pays for compression).

Every measurement then runs in a fresh client process (``--worker``): the client must not
share the GIL with the server (a real API server is another machine), and each
``stream()`` run starts from a fresh heap. Timed from the call to the last byte (the
WebSocket connection included; interpreter start-up and kubeconfig loading excluded):

- ours, raw: ``exec_in_pod(..., ["cat", FILE])``, frames collected in a list;
- ours as the collector uses it: ``DebugPodRunner.run_streaming("entries", ["cat", FILE])``
  (``gzip -1`` on the node, inflated here as it streams; its ``sh``/``gzip`` probe is done
  once before the clock starts), with the bytes that crossed the wire;
- ``kubernetes.stream.stream(connect_get_namespaced_pod_exec, ..., binary=True,
  _preload_content=False)``, ``run_forever(timeout=...)``, ``read_channel(1)``: its buffering
  is quadratic, so it is timed on 16 MB and 64 MB slices (``head -c``, ours on the same
  slices beside it) every repetition, and on the whole file once, bounded by
  :data:`STREAM_FULL_TIMEOUT_S` (not at all with ``--quick``). Nothing is extrapolated.

Every run's bytes are checked against the file (sha256) and its exit status must be 0.
Repetitions alternate the methods; medians are reported, with the goal verdict (ours
<= 3 s for the whole listing), the frames each of ours received and their mean size.

The lab server sends exec frames of up to 1 MB. ``--frame-kb 32`` makes it send smaller
ones for the run (``exec_ws.CHUNK`` changed in memory, nothing on disk), closer to what an
API server relays: ``stream()``'s copying grows with frames x size (use it with ``--quick``:
the 64 MB slice then hits its timeout).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scratch import abandoned, scratch_netns, sweep_netns  # benchmarks/: the script's folder

HERE = Path(__file__).resolve().parent
ENTRIES = 1_000_000
SEED = 7
GOAL_SECONDS = 3.0
IMAGE = "nicolaka/netshoot"
NODE = "worker-00"
NETNS_PREFIX = "ctdtest-bench-"
FILE_PREFIX = "ctdiag-bench-exec-"
SHM = Path("/dev/shm")
SLICES_MB = (16, 64)
#: Seconds any of our fetches may take (the goal is 3).
OURS_TIMEOUT_S = 60.0
#: Seconds ``stream()`` gets per slice and for the whole file.
STREAM_SLICE_TIMEOUT_S = 30.0
STREAM_FULL_TIMEOUT_S = 40.0
#: Extra seconds a worker process gets beyond its fetch's own timeout before it is killed.
WORKER_GRACE_S = 30.0
SETUP_TIMEOUT_S = 20.0


def _rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux carries that over ``execve`` from
    the forked parent, which holds the whole listing."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


# --- the client side: one fetch per process ---------------------------------------------


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One fetch, in this fresh process; what arrived, how fast, and its sha256."""
    from ctdiag.collect.kube.access import AccessOptions, connect

    method, argv, timeout = spec["method"], spec["argv"], float(spec["timeout"])
    cluster = connect(AccessOptions(spec["kubeconfig"]))
    configuration = cluster.configuration
    digest = hashlib.sha256()
    size = 0
    wire: int | None = None
    finished = True
    frames: list[bytes] = []
    if method == "raw":
        from ctdiag.collect.kube.exec import exec_in_pod

        t0 = time.perf_counter()
        result = exec_in_pod(
            configuration, spec["namespace"], spec["pod"], argv, container=spec["container"],
            node=spec["node"], timeout=timeout, on_stdout=frames.append,
        )  # fmt: skip
        stdout = b"".join(frames)  # what exec_in_pod does without a sink
        seconds = time.perf_counter() - t0
        digest.update(stdout)
        size, wire, code = len(stdout), result.received, result.returncode
    elif method == "runner":
        from ctdiag.collect.kube.pod_runner import DebugPod, DebugPodRunner

        pod = DebugPod(spec["node"], spec["namespace"], spec["pod"], spec["container"],
                       spec["image"])  # fmt: skip
        runner = DebugPodRunner(configuration, pod)
        runner.run_streaming("warmup", ["true"], timeout=20, on_stdout=lambda _: None)
        counted = [0]

        def sink(data: bytes) -> None:  # what the streaming parser is handed (one per frame)
            digest.update(data)
            counted[0] += len(data)
            frames.append(b"")

        before = runner.received_bytes
        t0 = time.perf_counter()
        output = runner.run_streaming("entries", argv, timeout=timeout, on_stdout=sink)
        seconds = time.perf_counter() - t0
        size, wire, code = counted[0], runner.received_bytes - before, output.exit_status
        if len(output.stdout) != size:
            raise SystemExit(f"run_streaming kept {len(output.stdout)} bytes, sink saw {size}")
    elif method == "stream":
        from kubernetes import client, config
        from kubernetes.stream import stream

        api_client = config.new_client_from_config(config_file=spec["kubeconfig"])
        v1 = client.CoreV1Api(api_client)
        t0 = time.perf_counter()
        response = stream(
            v1.connect_get_namespaced_pod_exec, spec["pod"], spec["namespace"],
            container=spec["container"], command=argv, stderr=True, stdin=False,
            stdout=True, tty=False, _preload_content=False, binary=True,
        )  # fmt: skip
        receive = response.sock.recv_data_frame

        def counted_frame(control: bool = False) -> Any:  # counts frames, changes nothing
            opcode, frame = receive(control)
            if len(frame.data) > 1 and frame.data[0] == 1:
                frames.append(b"")
            return opcode, frame

        response.sock.recv_data_frame = counted_frame
        response.run_forever(timeout=timeout)
        out = response.read_channel(1)
        seconds = time.perf_counter() - t0
        finished = not response.is_open()
        code = response.returncode if finished else None
        response.close()
        api_client.close()
        digest.update(out)
        size = len(out)
    else:
        raise SystemExit(f"unknown method {method}")
    cluster.close()
    return {
        "seconds": seconds, "bytes": size, "wire": wire, "sha256": digest.hexdigest(),
        "frames": len(frames),
        "exit": code, "finished": finished, "rss_mb": _rss_mb(),
    }  # fmt: skip


def _run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """``worker(spec)`` in a fresh process, killed if it overstays its timeout."""
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            capture_output=True, text=True, check=False,
            timeout=float(spec["timeout"]) + WORKER_GRACE_S,
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"worker killed after {float(spec['timeout']) + WORKER_GRACE_S:g} s"}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        return {"error": f"worker exit {done.returncode}: {lines[-1][:300]}"}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --- set-up and clean-up ------------------------------------------------------------------


def _cli_listing(entries: int) -> bytes:
    """``gen_dump``'s dump, printed as ``conntrack -L -o extended`` prints it."""
    sys.path.insert(0, str(HERE))
    import gen_dump

    text = gen_dump.generate(entries, SEED, False)
    return text.replace(" zone=0 use=2\n", " use=1\n").replace(" use=2\n", " use=1\n").encode()


def sweep_abandoned() -> None:
    """Remove namespaces and files of earlier runs that were killed (their pid is gone)."""
    sweep_netns(NETNS_PREFIX)
    for path in SHM.glob(f"{FILE_PREFIX}*"):
        if abandoned(path.name, FILE_PREFIX):
            path.unlink(missing_ok=True)


@contextmanager
def frame_size(kilobytes: int | None) -> Iterator[int]:
    """The lab server's largest exec frame, changed for the block when ``kilobytes`` is given
    (the server reads ``exec_ws.CHUNK`` for every pipe read; nothing is edited on disk)."""
    from ctdiag.lab.apiserver import exec_ws

    default = exec_ws.CHUNK
    if kilobytes is not None:
        exec_ws.CHUNK = kilobytes * 1024
    try:
        yield exec_ws.CHUNK
    finally:
        exec_ws.CHUNK = default


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _say(message: str) -> None:
    print(f"[bench_exec] {message}", file=sys.stderr, flush=True)


# --- the measurement ---------------------------------------------------------------------


def measure(args: argparse.Namespace, path: Path, data: bytes) -> dict[str, Any]:
    """Serve the lab API, start the debug pod, and time every method (see the docstring)."""
    from ctdiag.collect.kube.access import AccessOptions, connect
    from ctdiag.collect.kube.pod_runner import GZIP_SCRIPT
    from ctdiag.collect.kube.session import DebugPodSession, PodOptions
    from ctdiag.lab.apiserver.cluster import LabApiNode
    from ctdiag.lab.apiserver.server import serve_lab_api

    expected = {None: hashlib.sha256(data).hexdigest()}
    for mb in SLICES_MB:
        expected[mb] = hashlib.sha256(data[: mb * 1_000_000]).hexdigest()
    runs: dict[str, list[dict[str, Any]]] = {}
    with scratch_netns(NETNS_PREFIX) as netns, frame_size(args.frame_kb) as chunk, \
            serve_lab_api([LabApiNode(NODE, netns)]) as api:
        cluster = connect(AccessOptions(str(api.kubeconfig)))
        try:
            with DebugPodSession(cluster, PodOptions(image=IMAGE, start_timeout_s=30)) as pods:
                pod = pods.runner(NODE).pod
                base = {
                    "kubeconfig": str(api.kubeconfig), "namespace": pod.namespace,
                    "pod": pod.name, "container": pod.container, "node": NODE, "image": pod.image,
                }  # fmt: skip
                _say(f"debug pod {pod.namespace}/{pod.name} ({pod.image}) on {NODE} "
                     f"(netns {netns})")  # fmt: skip

                def run(key: str, method: str, mb: int | None, timeout: float) -> None:
                    argv = ["cat", str(path)] if mb is None else [
                        "head", "-c", str(mb * 1_000_000), str(path)]  # fmt: skip
                    result = _run_worker({**base, "method": method, "argv": argv,
                                          "timeout": timeout})  # fmt: skip
                    result["ok"] = (
                        "error" not in result and result["finished"] and result["exit"] == 0
                        and result["sha256"] == expected[mb]
                    )  # fmt: skip
                    runs.setdefault(key, []).append(result)
                    shown = result.get("error") or (
                        f"{result['bytes'] / 1e6:.1f} MB in {result['seconds']:.3f} s, "
                        f"exit {result['exit']}, sha256 {'ok' if result['ok'] else 'MISMATCH'}"
                        + ("" if result["finished"] else " (timed out: partial)")
                    )
                    _say(f"{key}: {shown}")

                for _ in range(args.repeat):
                    run("raw", "raw", None, OURS_TIMEOUT_S)
                    run("runner", "runner", None, OURS_TIMEOUT_S)
                    for mb in SLICES_MB:
                        run(f"raw{mb}", "raw", mb, OURS_TIMEOUT_S)
                        run(f"stream{mb}", "stream", mb, STREAM_SLICE_TIMEOUT_S)
                if not args.quick:
                    run("stream", "stream", None, STREAM_FULL_TIMEOUT_S)
                gzipped = sum(GZIP_SCRIPT in argv for _, _, argv in api.exec_log())
        finally:
            cluster.close()
    return {"runs": runs, "gzipped_execs": gzipped, "chunk": chunk}


def _gzip_reference(path: Path) -> tuple[int, float]:
    """Bytes and seconds of ``gzip -1 -c FILE`` alone (the node's share of method b)."""
    t0 = time.perf_counter()
    done = subprocess.run(["gzip", "-1", "-c", str(path)], capture_output=True, check=True)
    return len(done.stdout), time.perf_counter() - t0


def report(result: dict[str, Any], size: int, gz: tuple[int, float], repeat: int) -> None:
    runs: dict[str, list[dict[str, Any]]] = result["runs"]

    def good(key: str) -> list[dict[str, Any]]:
        return [r for r in runs.get(key, []) if "error" not in r]

    def median(key: str) -> float | None:
        done = [r["seconds"] for r in good(key) if r["ok"]]
        return statistics.median(done) if done else None

    ours = {None: median("raw"), **{mb: median(f"raw{mb}") for mb in SLICES_MB}}
    rows: list[tuple[str, str, int | None]] = [
        ("raw", "ours, raw: exec_in_pod(cat FILE), frames into a list", None),
        ("runner", "ours, collector: DebugPodRunner.run_streaming (gzip -1 on the node)", None),
    ]
    for mb in SLICES_MB:
        rows.append((f"raw{mb}", f"ours, raw: exec_in_pod(head -c {mb}MB FILE)", mb))
        rows.append((f"stream{mb}", f"stream() + run_forever, head -c {mb}MB FILE", mb))
    rows.append(("stream", "stream() + run_forever, cat FILE (once, bounded)", None))

    print(f"{os.cpu_count()} CPUs; listing: {ENTRIES:,} entries, {size / 1e6:.1f} MB "
          f"({size / ENTRIES:.0f} B/entry), `conntrack -L -o extended` format; median of "
          f"{repeat} (stream() on the whole file: one run)")  # fmt: skip
    print(f"lab server: exec frames of up to {result['chunk'] // 1024} KB "
          f"(--frame-kb; its default is 1024); client in a fresh process per run")
    print(f"gzip -1 on this file: {size / 1e6:.1f} MB -> {gz[0] / 1e6:.1f} MB, ratio "
          f"{size / gz[0]:.2f}:1, {gz[1]:.2f} s alone (single-threaded, the node's CPU share "
          f"of the collector path); execs through the gzip script: "
          f"{result['gzipped_execs']} (per runner run: a warm-up, then the fetch)")
    print()
    print("| method | MB | seconds | MB/s | vs ours raw (same MB) | wire MB | frames (mean KB) "
          "| peak RSS | sha256 + exit 0 | all runs (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key, label, mb in rows:
        all_runs = runs.get(key, [])
        if not all_runs:
            print(f"| {label} | | not run (--quick) | | | | | | | |")
            continue
        errors = [r["error"] for r in all_runs if "error" in r]
        done = good(key)
        if not done:
            print(f"| {label} | | FAILED: {errors[0]} | | | | | | | |")
            continue
        partial = [r for r in done if not r["finished"]]
        ok = sum(r["ok"] for r in all_runs)
        got_mb = statistics.median(r["bytes"] for r in done) / 1e6
        times = ", ".join(f"{r['seconds']:.2f}" + ("*" if not r["finished"] else "")
                          for r in done)  # fmt: skip
        rss = max(r["rss_mb"] for r in done)
        wires = [r["wire"] for r in done if r["wire"] is not None]
        wire = f"{statistics.median(wires) / 1e6:.1f}" if wires else "n/a"
        counts = [r["frames"] for r in done if r.get("frames")]
        frames = "n/a"
        if counts:
            count = statistics.median(counts)
            per = statistics.median(wires) if wires else statistics.median(r["bytes"] for r in done)
            frames = f"{count:.0f} ({per / count / 1024:.0f})"
        m = median(key)
        if m is None:  # only partial or wrong runs: say what happened, no rate
            seconds = statistics.median(r["seconds"] for r in done)
            why = "did not finish" if partial else "wrong bytes or exit"
            print(f"| {label} | {got_mb:.1f} of {(size if mb is None else mb * 1e6) / 1e6:.1f} "
                  f"| > {seconds:.2f} ({why}) | | | {wire} | {frames} | {rss:.0f} MB "
                  f"| {ok}/{len(all_runs)} "
                  f"| {times} |")  # fmt: skip
            continue
        base = ours[mb]
        ratio = f"{m / base:.2f}x" if base else "n/a"
        print(f"| {label} | {got_mb:.1f} | {m:.3f} | {got_mb / m:.0f} | {ratio} | {wire} "
              f"| {frames} | {rss:.0f} MB | {ok}/{len(all_runs)} | {times} |")  # fmt: skip
        for error in errors:
            print(f"|   (a run failed: {error}) | | | | | | | | | |")
    print("(* = stream() still open at its timeout: partial data, no rate given)")
    print(f"stream() is timed on the whole file once (bounded by {STREAM_FULL_TIMEOUT_S:g} s; "
          f"not with --quick), and on {' and '.join(f'{mb} MB' for mb in SLICES_MB)} slices "
          "every repetition beside ours on the same slices; nothing is extrapolated.")
    print()
    for key, what in (("raw", "ours, raw"), ("runner", "ours, collector path (gzip)")):
        m = median(key)
        verdict = "PASS" if m is not None and m <= GOAL_SECONDS else "FAIL"
        shown = f"{m:.2f} s" if m is not None else "no valid run"
        print(f"goal: 1M-entry listing through the exec WebSocket <= {GOAL_SECONDS:.0f} s, "
              f"{what}: {shown} -> {verdict}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="one repetition, no stream() run on the whole file")
    parser.add_argument("--frame-kb", type=int, metavar="KB",
                        help="largest exec frame the lab server sends (default: its own, "
                             "1024 KB); real API servers relay smaller frames")
    parser.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if os.geteuid() != 0:
        print("bench_exec.py: skipped, needs root (a scratch network namespace)")
        return
    if args.quick:
        args.repeat = 1
    signal.signal(signal.SIGTERM, _terminate)
    sweep_abandoned()
    path = SHM / f"{FILE_PREFIX}{os.getpid()}.txt"
    try:
        t0 = time.perf_counter()
        data = _cli_listing(ENTRIES)
        path.write_bytes(data)
        _say(f"{path}: {len(data) / 1e6:.1f} MB written in {time.perf_counter() - t0:.1f} s")
        gz = _gzip_reference(path)
        result = measure(args, path, data)
        report(result, len(data), gz, args.repeat)
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
