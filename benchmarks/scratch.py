"""Set-up helpers the root benchmarks share: commands that must succeed, and sweeping what
killed earlier runs left (names carry the pid of the run that made them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SETUP_TIMEOUT_S = 20.0
NETNS_DIR = Path("/run/netns")


def sh(*argv: str) -> str:
    """Run a set-up command (argv, no shell) to completion; its stdout. Exit on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def abandoned(name: str, prefix: str) -> bool:
    """``name`` is ``PREFIX<pid>...`` and that process is gone."""
    match = re.match(rf"{re.escape(prefix)}(\d+)", name)
    return bool(match) and not Path(f"/proc/{match[1]}").exists()  # type: ignore[index]


def sweep_netns(prefix: str) -> None:
    """Delete the network namespaces ``PREFIX<pid>...`` of runs that were killed."""
    names = sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
    for name in names:
        if abandoned(name, prefix):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False,
                           timeout=SETUP_TIMEOUT_S)  # fmt: skip


@contextmanager
def scratch_netns(prefix: str, *, track_new: bool = False) -> Iterator[str]:
    """``PREFIX<pid>`` with ``lo`` up (and, with ``track_new``, an nft rule that makes the
    kernel track new flows in it); deleted at the end."""
    name = f"{prefix}{os.getpid()}"
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    try:
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if track_new:
            sh("ip", "netns", "exec", name, "nft",
               "add table inet ctdbench; add chain inet ctdbench out "
               "{ type filter hook output priority 0; ct state new accept; }")  # fmt: skip
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False,
                       timeout=SETUP_TIMEOUT_S)  # fmt: skip
        if (NETNS_DIR / name).exists():
            print(f"{Path(sys.argv[0]).name}: could not delete netns {name}", file=sys.stderr)
