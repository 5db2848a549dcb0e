"""Start-up benchmark: what a user waits for before ctdiag does anything.

Usage::

    python benchmarks/bench_startup.py [--repeat 7]

Each command runs ``--repeat`` times in a fresh process, alternating between commands so
machine noise hits all alike; the best wall time is reported next to a bare interpreter.
"All subcommands loaded" is what ``--help`` cost before subcommands were loaded lazily (every
subcommand module imported, as ``build_parser()`` without argv still does). The pytest rows
show what the installed plugin costs a run that uses none of its options. Prints a markdown
table: goal, measured, verdict.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CAPTURE = HERE.parent / "tests" / "captures" / "conntrack_L.stdout"
GOAL_HELP_S = 0.3
PY = sys.executable


def commands(workdir: Path) -> dict[str, list[str]]:
    (workdir / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    return {
        "bare interpreter (`python -c pass`)": [PY, "-c", "pass"],
        "`python -m ctdiag --help`": [PY, "-m", "ctdiag", "--help"],
        "all subcommands loaded (the former `--help`)": [
            PY, "-c", "from ctdiag.cli.main import build_parser; build_parser()"],
        "`python -m ctdiag parse --help`": [PY, "-m", "ctdiag", "parse", "--help"],
        "`python -m ctdiag parse` of a 25-line capture": [PY, "-m", "ctdiag", "parse",
                                                          str(CAPTURE)],
        "`pytest` of one trivial test, ctdiag plugin off (`-p no:ctdiag`)": [
            PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:ctdiag",
            str(workdir)],
        "`pytest` of one trivial test, ctdiag plugin installed": [
            PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(workdir)],
    }  # fmt: skip


def best_times(cmds: dict[str, list[str]], repeat: int) -> dict[str, float]:
    best = dict.fromkeys(cmds, float("inf"))
    for _ in range(repeat):
        for name, argv in cmds.items():
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, timeout=120, check=False,
                                  cwd=HERE.parent)  # fmt: skip
            elapsed = time.perf_counter() - start
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name}: exit {done.returncode}: {done.stderr.decode()[-500:]}")
            best[name] = min(best[name], elapsed)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctdiag-bench-startup-") as tmp:
        best = best_times(commands(Path(tmp)), args.repeat)
    print(f"| measurement (best of {args.repeat}, fresh processes) | goal | measured |")
    print("|---|---|---|")
    for name, seconds in best.items():
        goal = f"<= {GOAL_HELP_S} s" if name == "`python -m ctdiag --help`" else "-"
        print(f"| {name} | {goal} | {seconds:.3f} s |")
    ok = best["`python -m ctdiag --help`"] <= GOAL_HELP_S
    print(f"\n--help start-up goal (<= {GOAL_HELP_S} s): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
