"""Parse benchmark: a 1M-entry /proc/net/nf_conntrack dump, against awk and the goals.

Usage::

    python benchmarks/gen_dump.py            # once: writes benchmarks/data/ (git-ignored)
    python benchmarks/bench_parse.py [--file PATH] [--repeat 3]

Every measurement runs in a fresh subprocess (``--worker NAME``), so its peak RSS
(``ru_maxrss``) is its own, and the best wall time of ``--repeat`` runs is reported. The file
is read once beforehand so all runs see a warm page cache, awk included. Prints a markdown
table: goal, measured, verdict.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "data" / "nf_conntrack_1000000.txt"
AWK = ["awk", '$3=="tcp"{c[$6]++} END{for(k in c) print k,c[k]}']
GOAL_SECONDS, GOAL_RATIO, GOAL_RSS_MB, GOAL_BYTES, AIM_PARSE = 1.0, 3.0, 600.0, 100.0, 0.6
REFERENCE_LINES = 100_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _has(module: str, attr: str | None = None) -> bool:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return attr is None or hasattr(mod, attr)


def _parse_table(data: bytes) -> tuple[Any, str]:
    """The full parse: parse_listing when it exists, else the fast path directly."""
    if _has("ctdiag.parse", "parse_listing"):
        from ctdiag.parse.listing import parse_listing

        return parse_listing(data), "ctdiag.parse.parse_listing"
    from ctdiag.parse.fast import parse_lines_fast

    table, declined = parse_lines_fast(data)
    if declined:
        raise SystemExit(f"{len(declined)} lines declined and no reference parser to take them")
    return table, "ctdiag.parse.fast.parse_lines_fast (parse_listing absent)"


def worker(name: str, path: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import numpy  # noqa: F401  - import cost is not parse cost


    if name == "full":
        if _has("ctdiag.parse", "parse_listing"):
            pass
        t0 = time.perf_counter()
        data = path.read_bytes()
        t1 = time.perf_counter()
        table, via = _parse_table(data)
        t2 = time.perf_counter()
        return {
            "seconds": t2 - t0,
            "read": t1 - t0,
            "parse": t2 - t1,
            "via": via,
            "rows": len(table),
            "malformed": len(table.diagnostics.malformed),
            "bytes_per_entry": table.nbytes / max(len(table), 1),
            "rss_mb": _rss_mb(),
        }
    if name == "fast":
        from ctdiag.parse.fast import AVAILABLE, parse_lines_fast

        if not AVAILABLE:
            return {"skipped": "ctdiag.parse._fastparse is not built"}
        data = path.read_bytes()
        t0 = time.perf_counter()
        table, declined = parse_lines_fast(data)
        t1 = time.perf_counter()
        return {
            "seconds": t1 - t0,
            "rows": len(table),
            "declined": len(declined),
            "bytes_per_entry": table.nbytes / max(len(table), 1),
            "rss_mb": _rss_mb(),
        }
    if name == "summary":
        if not _has("ctdiag.analyze.summary", "summarize"):
            return {"skipped": "ctdiag.analyze.summary.summarize does not exist yet"}
        from ctdiag.analyze.summary import summarize

        table, _ = _parse_table(path.read_bytes())
        t0 = time.perf_counter()
        summarize(table)
        t1 = time.perf_counter()
        return {"seconds": t1 - t0, "rss_mb": _rss_mb()}
    if name == "reference":
        if not _has("ctdiag.parse", "parse_listing"):
            return {"skipped": "ctdiag.parse.parse_listing does not exist yet"}
        from ctdiag.parse.listing import parse_listing

        with path.open("rb") as f:
            data = b"".join(line for _, line in zip(range(REFERENCE_LINES), f, strict=False))
        t0 = time.perf_counter()
        table = parse_listing(data, use_fast=False)
        t1 = time.perf_counter()
        return {"seconds": t1 - t0, "rows": len(table), "rss_mb": _rss_mb()}
    raise SystemExit(f"unknown worker {name}")


def run_worker(name: str, path: Path, repeat: int) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    peak = 0.0
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--file", str(path)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )
        result: dict[str, Any] = json.loads(out.stdout)
        if "skipped" in result:
            return result
        peak = max(peak, result["rss_mb"])
        if best is None or result["seconds"] < best["seconds"]:
            best = result
    assert best is not None
    return {**best, "rss_mb": peak}


def run_awk(path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([*AWK, str(path)], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.file)))
        return
    if not args.file.exists() and args.file == DEFAULT_FILE:
        print(f"generating {args.file} (deterministic, seeded) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "gen_dump.py")], check=True)
    if not args.file.exists():
        raise SystemExit(f"{args.file} is missing: run python benchmarks/gen_dump.py first")
    size_mb = args.file.stat().st_size / 1e6
    args.file.read_bytes()  # warm the page cache for everyone
    awk = run_awk(args.file, args.repeat)
    full = run_worker("full", args.file, args.repeat)
    fast = run_worker("fast", args.file, args.repeat)
    summary = run_worker("summary", args.file, 1)
    reference = run_worker("reference", args.file, 1)

    rows = [
        ("awk TCP-state histogram (baseline)", "-", f"{awk:.3f} s", "-"),
        (
            f"full parse: read file + {full['via']} -> table",
            f"<= {GOAL_SECONDS:.1f} s",
            f"{full['seconds']:.3f} s (read {full['read']:.3f} + parse {full['parse']:.3f})",
            verdict(full["seconds"] <= GOAL_SECONDS),
        ),
        (
            "full parse / awk",
            f"<= {GOAL_RATIO:.0f}x",
            f"{full['seconds'] / awk:.2f}x",
            verdict(full["seconds"] / awk <= GOAL_RATIO),
        ),
        (
            "peak RSS of the full-parse process",
            f"<= {GOAL_RSS_MB:.0f} MB",
            f"{full['rss_mb']:.0f} MB",
            verdict(full["rss_mb"] <= GOAL_RSS_MB),
        ),
        (
            "table.nbytes / entries",
            f"<= {GOAL_BYTES:.0f} B",
            f"{full['bytes_per_entry']:.1f} B ({full['rows']} rows, {full['malformed']} malformed)",
            verdict(full["bytes_per_entry"] <= GOAL_BYTES),
        ),
    ]
    if "skipped" in fast:
        rows.append(("C fast path alone", f"aim <= {AIM_PARSE} s", fast["skipped"], "-"))
    else:
        rows.append(
            (
                "C fast path alone: parse_lines_fast(bytes in memory)",
                f"aim <= {AIM_PARSE} s",
                f"{fast['seconds']:.3f} s ({fast['declined']} declined, "
                f"peak RSS {fast['rss_mb']:.0f} MB)",
                verdict(fast["seconds"] <= AIM_PARSE),
            )
        )
    if "skipped" in summary:
        rows.append(("summarize(table)", "-", summary["skipped"], "-"))
    else:
        rows.append(
            (
                "summarize(table) (ctdiag.analyze.summary)",
                "-",
                f"{summary['seconds']:.3f} s (peak RSS {summary['rss_mb']:.0f} MB)",
                "-",
            )
        )
    if "skipped" in reference:
        rows.append(("pure-Python reference", "-", reference["skipped"], "-"))
    else:
        per_million = reference["seconds"] * 1_000_000 / max(reference["rows"], 1)
        rows.append(
            (
                f"pure-Python reference, first {REFERENCE_LINES // 1000}k lines (use_fast=False)",
                "-",
                f"{reference['seconds']:.3f} s (~{per_million:.1f} s per 1M)",
                "-",
            )
        )

    print(f"File: {args.file} ({size_mb:.1f} MB), {os.cpu_count()} CPUs, best of {args.repeat}")
    print()
    print("| measurement | goal | measured | verdict |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("Reproduce: python benchmarks/gen_dump.py && python benchmarks/bench_parse.py")


if __name__ == "__main__":
    main()
