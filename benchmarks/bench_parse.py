"""Parse benchmark: 1M-entry conntrack tables, against awk and the goals, side by side.

Usage::

    python benchmarks/bench_parse.py [--repeat 3] [--file PATH ...]

Without ``--file`` it measures three generated 1,000,000-entry data sets (made on first use
by ``gen_dump.py``, seeded): the project's first /proc dump of an OVN node (few distinct
addresses), and a busy dual-stack node (``--profile diverse``: hundreds of thousands of
distinct addresses) as /proc prints it (IPv6 uncompressed) and as ``conntrack -L`` prints it.

Every measurement runs in a fresh process (``--worker NAME``), so its peak RSS is its own;
rounds alternate over all data sets and measurements, and the best wall time of
``--repeat`` rounds is reported, so a busy machine slows awk and ctdiag alike. The files are
read once first, so all runs see a warm page cache. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_dump import default_path  # noqa: E402  - a sibling module

ENTRIES = 1_000_000
GOAL_SECONDS, GOAL_RATIO, GOAL_PROCESS_RATIO, GOAL_RSS_MB, GOAL_BYTES = 1.0, 3.0, 4.0, 600, 100
REFERENCE_LINES = 100_000
HEAVY_MODULES = ("kubernetes", "scapy", "aiohttp")


@dataclass(frozen=True)
class DataSet:
    name: str
    path: Path
    gen_args: tuple[str, ...]

    @property
    def awk(self) -> list[str]:
        """The field's pipeline: a TCP-state histogram (fields shift with the L3 prefix)."""
        with self.path.open("rb") as f:
            proc = f.readline().startswith((b"ipv4 ", b"ipv6 "))
        proto, state = ("$3", "$6") if proc else ("$1", "$4")
        return ["awk", f'{proto}=="tcp"{{c[{state}]++}} END{{for(k in c) print k,c[k]}}']


DATA_SETS = (
    DataSet("OVN node /proc (first dump)", default_path(ENTRIES, "ovn", False, False), ()),
    DataSet(
        "dual-stack /proc (diverse)",
        default_path(ENTRIES, "diverse", False, False),
        ("--profile", "diverse"),
    ),
    DataSet(
        "dual-stack `conntrack -L` (diverse)",
        default_path(ENTRIES, "diverse", True, False),
        ("--profile", "diverse", "--listing"),
    ),
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(name: str, path: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import numpy  # noqa: F401  - import cost is not parse cost

    from ctdiag.parse.listing import parse_listing

    if name == "full":
        t0 = time.perf_counter()
        data = path.read_bytes()
        t1 = time.perf_counter()
        table = parse_listing(data)
        t2 = time.perf_counter()
        return {
            "seconds": t2 - t0,
            "read": t1 - t0,
            "rows": len(table),
            "malformed": len(table.diagnostics.malformed),
            "addresses": len(table.dictionaries["addresses"]),
            "ipv6": sum(":" in a for a in table.dictionaries["addresses"]),
            "bytes_per_entry": table.nbytes / max(len(table), 1),
            "rss_mb": _rss_mb(),
        }
    if name == "fast":
        from ctdiag.parse.fast import AVAILABLE, parse_lines_fast

        if not AVAILABLE:
            return {"skipped": "ctdiag.parse._fastparse is not built"}
        data = path.read_bytes()
        t0 = time.perf_counter()
        _, declined = parse_lines_fast(data)
        return {"seconds": time.perf_counter() - t0, "declined": len(declined), "rss_mb": _rss_mb()}
    if name == "summary":
        from ctdiag.analyze.summary import summarize

        table = parse_listing(path.read_bytes())
        t0 = time.perf_counter()
        summarize(table)
        return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb()}
    if name == "reference":
        with path.open("rb") as f:
            data = b"".join(line for _, line in zip(range(REFERENCE_LINES), f, strict=False))
        t0 = time.perf_counter()
        table = parse_listing(data, use_fast=False)
        return {"seconds": time.perf_counter() - t0, "rows": len(table), "rss_mb": _rss_mb()}
    raise SystemExit(f"unknown worker {name}")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(HERE.parent)}


def run_worker(name: str, path: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", name, "--file", str(path)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=_env())
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run_process(argv: list[str], path: Path) -> dict[str, Any]:
    """Wall time and peak RSS of one command reading ``path``, its stdout discarded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*argv, str(path)], stdout=subprocess.DEVNULL, env=_env())
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: malformed lines were reported, still a parse
        raise SystemExit(f"{argv[0]} exited {proc.returncode} on {path}")
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024}


CTDIAG_SUMMARY = [sys.executable, "-m", "ctdiag", "parse", "--summary"]
#: The same command with only its own module imported: what ``python -m ctdiag parse`` costs
#: once the other subcommands (kubernetes, scapy behind them) are imported lazily.
PARSE_COMMAND_ONLY = [sys.executable, "-c", (
    "import argparse, sys\n"
    "from ctdiag.cli import parse\n"
    "p = argparse.ArgumentParser()\n"
    "parse.add_parser(p.add_subparsers())\n"
    "a = p.parse_args(['parse', '--summary', sys.argv[1]])\n"
    "sys.exit(a.run(a))\n"
)]  # fmt: skip


def heavy_imports(path: Path) -> list[str]:
    """The heavy edge packages ``ctdiag parse`` imports (``-X importtime`` on a small input)."""
    with path.open("rb") as f:
        head = b"".join(line for _, line in zip(range(10), f, strict=False))
    small = Path(os.environ.get("TMPDIR", "/tmp")) / f"ctdiag-bench-{os.getpid()}.txt"
    small.write_bytes(head)
    try:
        argv = [sys.executable, "-X", "importtime", *CTDIAG_SUMMARY[1:], str(small)]
        done = subprocess.run(argv, capture_output=True, text=True, env=_env(), check=False)
    finally:
        small.unlink()
    found = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    return [m for m in HEAVY_MODULES if m in found]


MEASURES = ("awk", "full", "fast", "summary", "process", "command")


def measure(sets: list[DataSet], repeat: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Best of ``repeat`` rounds; each round runs every measurement of every data set."""
    best: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in sets}
    for _ in range(repeat):
        for s in sets:
            for what in MEASURES:
                if what == "awk":
                    result = run_process(s.awk, s.path)
                elif what == "process":
                    result = run_process(CTDIAG_SUMMARY, s.path)
                elif what == "command":
                    result = run_process(PARSE_COMMAND_ONLY, s.path)
                else:
                    result = run_worker(what, s.path)
                old = best[s.name].get(what)
                if "skipped" in result or old is None or result["seconds"] < old["seconds"]:
                    rss = max(result.get("rss_mb", 0), old.get("rss_mb", 0) if old else 0)
                    best[s.name][what] = {**result, "rss_mb": rss}
    for s in sets:
        best[s.name]["reference"] = run_worker("reference", s.path)
        best[s.name]["heavy"] = {"modules": heavy_imports(s.path)}
    return best


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def _seconds(what: str, goal: float | None = None) -> Any:
    def cell(r: dict[str, Any]) -> str:
        seconds = r[what]["seconds"]
        return f"{seconds:.3f} s" + (f" {_verdict(seconds <= goal)}" if goal else "")

    return cell


def _ratio(what: str, goal: float) -> Any:
    def cell(r: dict[str, Any]) -> str:
        x = r[what]["seconds"] / r["awk"]["seconds"]
        return f"{x:.2f}x {_verdict(x <= goal)}"

    return cell


def _addresses(r: dict[str, Any]) -> str:
    return f"{r['full']['addresses']:,} ({r['full']['ipv6']:,})"


def _rss(r: dict[str, Any]) -> str:
    full, process = r["full"]["rss_mb"], r["process"]["rss_mb"]
    return f"{full:.0f} / {process:.0f} MB {_verdict(max(full, process) <= GOAL_RSS_MB)}"


def _size(r: dict[str, Any]) -> str:
    per_entry = r["full"]["bytes_per_entry"]
    return f"{per_entry:.1f} B {_verdict(per_entry <= GOAL_BYTES)}"


def _fast(r: dict[str, Any]) -> str:
    f = r["fast"]
    return f["skipped"] if "skipped" in f else f"{f['seconds']:.3f} s ({f['declined']} declined)"


def _reference(r: dict[str, Any]) -> str:
    ref = r["reference"]
    return f"{ref['seconds']:.3f} s (~{ref['seconds'] * 1e6 / max(ref['rows'], 1):.0f} s per 1M)"


ROWS: tuple[tuple[str, str, Any], ...] = (
    ("file size", "-", lambda r: f"{r['size_mb']:.1f} MB"),
    ("distinct addresses (of them IPv6)", "-", _addresses),
    ("awk TCP-state histogram (baseline)", "-", _seconds("awk")),
    ("full parse: read file + `parse_listing` into the table", f"<= {GOAL_SECONDS:.1f} s",
     _seconds("full", GOAL_SECONDS)),
    ("full parse / awk", f"<= {GOAL_RATIO:.0f}x", _ratio("full", GOAL_RATIO)),
    ("whole process `python -m ctdiag parse --summary FILE`", "-", _seconds("process")),
    ("whole process / awk", f"<= {GOAL_PROCESS_RATIO:.0f}x",
     _ratio("process", GOAL_PROCESS_RATIO)),
    ("the same, `ctdiag.cli.parse` alone imported (lazy subcommands)", "-",
     _seconds("command")),
    ("... / awk", f"<= {GOAL_PROCESS_RATIO:.0f}x", _ratio("command", GOAL_PROCESS_RATIO)),
    ("heavy packages `ctdiag parse` imports", "none",
     lambda r: ", ".join(r["heavy"]["modules"]) or "none"),
    ("peak RSS: full parse / whole process", f"<= {GOAL_RSS_MB} MB", _rss),
    ("parsed table size", f"<= {GOAL_BYTES} B/entry", _size),
    ("C fast path alone (`parse_lines_fast`, bytes in memory)", "-", _fast),
    ("`--summary` aggregation (`summarize`)", "-", _seconds("summary")),
    (f"pure-Python reference parser, first {REFERENCE_LINES // 1000}k lines", "-", _reference),
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, action="append", help="measure these instead")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.file[0])))
        return
    sets = [DataSet(p.name, p, ()) for p in args.file] if args.file else list(DATA_SETS)
    for s in sets:
        if not s.path.exists() and not args.file:
            print(f"generating {s.path} (deterministic, seeded) ...", file=sys.stderr)
            gen = [sys.executable, str(HERE / "gen_dump.py"), *s.gen_args]
            subprocess.run(gen, check=True)
        if not s.path.exists():
            raise SystemExit(f"{s.path} is missing")
        s.path.read_bytes()  # warm the page cache for everyone
    results = measure(sets, args.repeat)
    for s in sets:
        results[s.name]["size_mb"] = s.path.stat().st_size / 1e6  # type: ignore[assignment]
    load = os.getloadavg()[0]
    print(f"{ENTRIES:,}-entry tables, {os.cpu_count()} CPUs, best of {args.repeat} alternating "
          f"rounds, {time.strftime('%Y-%m-%d')}, load average {load:.1f}")  # fmt: skip
    print()
    print("| measurement | goal | " + " | ".join(s.name for s in sets) + " |")
    print("|---|---|" + "---|" * len(sets))
    for label, goal, cell in ROWS:
        print(f"| {label} | {goal} | " + " | ".join(cell(results[s.name]) for s in sets) + " |")
    print()
    print("Reproduce: python benchmarks/bench_parse.py (generates benchmarks/data/ on first use)")


if __name__ == "__main__":
    main()
