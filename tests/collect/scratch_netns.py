"""Scratch network namespaces for the collection tests, always deleted afterwards.

They are named ``ctdtest-PID-ROLE``: not ``ctdlab-``, whose ``lab down`` deletes every
namespace of that prefix while lab tests may be running beside these; the pid keeps
concurrent runs (pytest-xdist workers) apart.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from ctdiag.collect.runners import NETNS_DIR

PREFIX = "ctdtest-"
#: Seconds any set-up command may take.
SETUP_TIMEOUT = 15.0
_OWNED = re.compile(rf"{PREFIX}(\d+)-[a-z0-9-]+")


class ScratchNamespaces:
    """Creates ``ctdtest-`` namespaces with ``lo`` up and deletes every one it created."""

    def __init__(self) -> None:
        self.created: list[str] = []

    @classmethod
    def sweep_abandoned(cls) -> list[str]:
        """Delete ``ctdtest-PID-*`` namespaces whose test process is gone (killed runs)."""
        names = sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
        abandoned = [
            name
            for name in names
            if (match := _OWNED.fullmatch(name)) and not Path(f"/proc/{match[1]}").exists()
        ]
        for name in abandoned:
            cls._delete(name)
        return abandoned

    def create(self, role: str) -> str:
        name = f"{PREFIX}{os.getpid()}-{role}"
        if (NETNS_DIR / name).exists():  # left by a crashed run that had the same pid
            self._delete(name)
        self.created.append(name)
        self.run("ip", "netns", "add", name)
        self.run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def run(self, *argv: str, timeout: float = SETUP_TIMEOUT) -> str:
        """Run a set-up command to completion; its stdout. A failure fails the test."""
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def exec(self, namespace: str, *argv: str, timeout: float = SETUP_TIMEOUT) -> str:
        """:meth:`run` inside ``namespace``."""
        return self.run("ip", "netns", "exec", namespace, *argv, timeout=timeout)

    @staticmethod
    def _delete(name: str) -> None:
        subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, timeout=SETUP_TIMEOUT, check=False
        )

    def delete_all(self) -> None:
        for name in reversed(self.created):
            self._delete(name)
        leftover = [name for name in self.created if (NETNS_DIR / name).exists()]
        self.created.clear()
        assert not leftover, f"namespaces not deleted: {leftover}"
