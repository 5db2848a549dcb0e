"""Collection benchmark (issue 3): a full table, our whole pipeline against the kernel's dump.

Usage (root; builds the lab, tears it down at the end whatever happens)::

    python benchmarks/bench_collect.py [--repeat 3] [--node ctdlab-node1]

Under the lab lock: ``lab up``, then per repetition ``table_pressure`` fills the node
namespace to ``nf_conntrack_max`` (one pass of the generator, which then sleeps till it
exits, so no refresh burst competes for the CPU; entries live the 30 s UDP timeout), the
count is verified, and these run one after another, alternating across repetitions:

- the kernel's dump, ``ip netns exec NODE cat /proc/net/nf_conntrack``, to ``/dev/null``
  and captured through a pipe by Python;
- ``conntrack -L -o extended`` alone, to ``/dev/null`` and through a pipe;
- ours, in a fresh process (``--worker``): ``collect_sample(NetnsRunner(NODE),
  window_s=0)`` (every command of the plan; the listing parsed while it streams in), then
  NodeState's table, summary, limits, stats and kernel log. Timed from the first
  command to the last result, interpreter start-up excluded; its peak RSS reported.

The count is verified again after each repetition (still full). Medians are reported, and
the ratio ours / kernel dump (to /dev/null: the stricter one) against the goal of 2x.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE = "ctdlab-node1"
GOAL_RATIO = 2.0
#: Longer than the fill's one pass (about 2 s here), shorter than its 15 s refresh.
FILL_SECONDS = 10.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(node: str) -> dict[str, Any]:
    """Ours, once, in this fresh process: collection + parse + full analysis."""
    import numpy  # noqa: F401  - import cost is not collection cost

    from ctdiag.analyze.node_state import NodeState
    from ctdiag.collect.collector import collect_sample
    from ctdiag.collect.runners import NetnsRunner

    messages: list[str] = []
    t0 = time.perf_counter()
    sample = collect_sample(NetnsRunner(node), window_s=0, progress=lambda _, m: messages.append(m))
    t1 = time.perf_counter()
    inspection = NodeState(sample)
    table = inspection.table
    summary = inspection.summary
    limits, _, _ = inspection.limits, inspection.stats, inspection.kernel_log
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "collect": t1 - t0,
        "analyse": t2 - t1,
        "streamed": sample.table is not None,
        "rows": len(table),
        "entries": summary.entries,
        "count": limits.count,
        "malformed": len(table.diagnostics.malformed),
        "notices": list(table.diagnostics.notices),
        "progress": messages,
        "rss_mb": _rss_mb(),
    }


def _timed(argv: list[str], *, capture: bool) -> tuple[float, int]:
    """Wall seconds of ``argv``, and the bytes it printed (when captured)."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, check=True)
    seconds = time.perf_counter() - t0
    return seconds, len(done.stdout) if capture else 0


def _ours(node: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", "--node", node],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _count(node: str) -> int:
    from ctdiag.lab import observe

    return observe.read_count(node)


def _fill(lab_node: Any, node: str) -> tuple[int, int]:
    """Fill the table; return (count, nf_conntrack_max) once it is exactly full."""
    from ctdiag.lab import observe
    from ctdiag.lab.scenario_model import ScenarioOptions
    from ctdiag.lab.scenarios import SCENARIOS

    options = ScenarioOptions(fraction=1.0, duration=FILL_SECONDS)
    SCENARIOS["table_pressure"].start(lab_node, options)
    limit = observe.read_max(node)
    deadline = time.monotonic() + 20
    while (count := _count(node)) < limit and time.monotonic() < deadline:
        time.sleep(0.1)  # the last flows of the pass are still arriving
    if count < limit:
        raise SystemExit(f"{node}: table at {count} of {limit} entries after the fill")
    return count, limit


def measure(node: str, repeat: int) -> dict[str, Any]:
    """Build the lab, and per repetition fill, verify and time every contender."""
    from ctdiag.lab.lifecycle import down, exclusive_lab, up
    from ctdiag.lab.scenarios import SCENARIOS

    dump = ["ip", "netns", "exec", node, "cat", "/proc/net/nf_conntrack"]
    listing = ["ip", "netns", "exec", node, "conntrack", "-L", "-o", "extended"]
    times: dict[str, list[float]] = {k: [] for k in ("dump", "dump_pipe", "cli", "cli_pipe")}
    ours: list[dict[str, Any]] = []
    counts: list[tuple[int, int, int]] = []
    sizes: dict[str, int] = {}
    with exclusive_lab():
        try:
            lab_node = up()
            for _ in range(repeat):
                count, limit = _fill(lab_node, node)
                times["dump"].append(_timed(dump, capture=False)[0])
                seconds, sizes["dump"] = _timed(dump, capture=True)
                times["dump_pipe"].append(seconds)
                times["cli"].append(_timed(listing, capture=False)[0])
                seconds, sizes["cli"] = _timed(listing, capture=True)
                times["cli_pipe"].append(seconds)
                ours.append(_ours(node))
                counts.append((count, _count(node), limit))
                SCENARIOS["table_pressure"].stop(lab_node)
        finally:
            down()
    return {"times": times, "ours": ours, "counts": counts, "sizes": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--node", default=NODE)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.node)))
        return
    if os.geteuid() != 0:
        print("bench_collect.py: skipped, needs root (the lab: network namespaces, conntrack)")
        return
    result = measure(args.node, args.repeat)
    times, ours, counts = result["times"], result["ours"], result["counts"]
    median = {k: statistics.median(v) for k, v in times.items()}
    ours_s = statistics.median(o["seconds"] for o in ours)
    collect_s = statistics.median(o["collect"] for o in ours)
    analyse_s = statistics.median(o["analyse"] for o in ours)
    rss = max(o["rss_mb"] for o in ours)
    ratio, ratio_pipe = ours_s / median["dump"], ours_s / median["dump_pipe"]
    limit = counts[0][2]
    rows = ours[0]["rows"]
    verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"

    print(f"{os.cpu_count()} CPUs, nf_conntrack_max {limit:,}, median of {args.repeat}")
    print("counts (after fill, after the repetition, max):", counts)
    print(f"ours: rows {[o['rows'] for o in ours]}, summary entries "
          f"{[o['entries'] for o in ours]}, count in the snapshot {[o['count'] for o in ours]}, "
          f"streamed {[o['streamed'] for o in ours]}, malformed {[o['malformed'] for o in ours]}, "
          f"notices {ours[0]['notices']}")  # fmt: skip
    print(f"ours progress: {ours[0]['progress']}")
    print("raw times:", json.dumps({**times, "ours": [round(o["seconds"], 3) for o in ours]}))
    print()
    print("| measurement | median | all runs |")
    print("|---|---|---|")
    mb = {key: f"{size / 1e6:.1f} MB" for key, size in result["sizes"].items()}
    labels = {
        "dump": "kernel dump `cat /proc/net/nf_conntrack` > /dev/null",
        "dump_pipe": f"kernel dump captured through a pipe ({mb['dump']})",
        "cli": "`conntrack -L -o extended` > /dev/null",
        "cli_pipe": f"`conntrack -L -o extended` through a pipe ({mb['cli']})",
    }
    for key, label in labels.items():
        runs = ", ".join(f"{t:.3f}" for t in times[key])
        print(f"| {label} | {median[key]:.3f} s | {runs} |")
    runs = ", ".join(f"{o['seconds']:.3f}" for o in ours)
    print(f"| ours: collect_sample + table + summary (collect {collect_s:.3f} + "
          f"analyse {analyse_s:.3f}) | {ours_s:.3f} s | {runs} |")  # fmt: skip
    print(f"| ours / kernel dump (/dev/null; piped: {ratio_pipe:.2f}x) | {ratio:.2f}x "
          f"(goal <= {GOAL_RATIO:.0f}x: {verdict}) | |")  # fmt: skip
    print(f"| peak RSS of ours | {rss:.0f} MB | |")
    print()
    print("README row:")
    print(f"| full table ({rows:,} flows, lab): collection + parse + analysis "
          f"({ours_s:.2f} s) / kernel dump `cat /proc/net/nf_conntrack` ({median['dump']:.2f} s) "
          f"| <= {GOAL_RATIO:.0f}x | **{ratio:.2f}x** (peak RSS {rss:.0f} MB) |")  # fmt: skip


if __name__ == "__main__":
    main()
