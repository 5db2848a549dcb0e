"""A ``python -m pytest`` (or ``python -m ctdiag``) subprocess against the lab API, its output
read all along (a reader that stopped at a marker would let the pipe fill and block the
run), and the lab API's own view of what the run asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ctdiag.lab.apiserver.server import LabApiServer
from tests.paths import ROOT

ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def pytest_argv(api: LabApiServer, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "checks",
            f"--kubeconfig={api.kubeconfig}", *args]  # fmt: skip


def creates(api: LabApiServer) -> list[str]:
    """Pod creates the server saw (exec requests aside)."""
    return [path for method, path in api.requests() if method == "POST" and "/pods" in path
            and "/exec" not in path]  # fmt: skip


def deletes_seen(api: LabApiServer) -> int:
    """DELETE requests the server has received (logged on arrival, before any delay)."""
    return sum(1 for method, _ in api.requests() if method == "DELETE")


class Running:
    """A subprocess whose stdout and stderr (merged) are read as they come."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=ENV,
        )  # fmt: skip
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, marker: str, timeout: float) -> None:
        """Until a line contains ``marker`` (fails the test after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(marker in line for line in self._lines):
                left = deadline - time.monotonic()
                ended = not self._reader.is_alive()  # all output read: it will never come
                assert left > 0 and not ended, f"{marker!r} never came:\n{''.join(self._lines)}"
                self._changed.wait(min(left, 0.2))

    def send(self, signum: signal.Signals) -> float:
        """Send ``signum``; when it was sent (``time.monotonic()``)."""
        self.process.send_signal(signum)
        return time.monotonic()

    def finish(self, timeout: float) -> int:
        """Its exit status, once it ended (killed, and the test failed, after ``timeout``)."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout:g} s:\n{self.output}") from None
        finally:
            self._reader.join(5)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition()`` every 50 ms until true (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)
