"""A :class:`~ctdiag.collect.runners.StreamingRunner` that runs a node's commands in its debug pod.

Where a program comes from is found once per node and remembered: the image's own, else the
host's through ``chroot /host`` (the host's ``/`` is mounted there), else it is missing
(exit status 127, as locally), and the plan falls back to ``/proc``. Rule dumpers
(``iptables-save``, ``nft``) are tried on the host first: an image's iptables may use the
other backend than the kernel's rules were written with, and then shows an empty table.

The flow listing is compressed on the node when the image has ``sh`` and ``gzip`` (a full
table is ~50 MB of text, ~5 MB gzipped) and decompressed here as it streams in. The exit
status still is the listing's, not gzip's: the constant script below carries it out.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.client import Configuration

from ctdiag.collect.kube.exec import ExecNotStarted, ExecResult, exec_in_pod
from ctdiag.collect.runners import MISSING_COMMAND_STATUS, StdoutConsumer
from ctdiag.errors import CollectionError
from ctdiag.model.outputs import CommandOutput

HOST_ROOT = ("chroot", "/host")
IMAGE: tuple[str, ...] = ()
#: Programs whose host copy is preferred: they must match the kernel's rule backend.
HOST_FIRST = frozenset({"iptables-save", "ip6tables-save", "nft"})
#: Run ``"$@"`` with stdout through ``gzip -1``, exiting with ``"$@"``'s status (POSIX sh has
#: no pipefail: the status travels on fd 3). A constant: user input only ever arrives as
#: positional arguments, never inside the script. 127 when the program is not in the image.
GZIP_SCRIPT = (
    'command -v "$1" >/dev/null 2>&1 || exit 127\n'
    "exec 4>&1\n"
    '{ { "$@"; echo "$?" >&3; } | gzip -c -1 >&4; } 3>&1 | { read -r rc; exit "${rc:-1}"; }\n'
)
GZIP_PROBE = ("sh", "-c", "command -v gzip >/dev/null", "sh")
#: How errors name :data:`GZIP_SCRIPT` (three lines of shell would break a one-line ERROR).
GZIP_SCRIPT_NAME = "<the gzip listing script>"
PROBE_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class DebugPod:
    """A running debug pod: where a node's commands execute.

    Attributes:
        node: the node it runs on (the name in test ids).
        namespace: its namespace.
        name: its name.
        container: the container commands run in.
        image: its image.
    """

    node: str
    namespace: str
    name: str
    container: str
    image: str


class DebugPodRunner:
    """Runs argv lists in a node's debug pod (exec WebSocket; never a shell string).

    Args:
        configuration: the cluster's credentials (exec never shares the REST client).
        pod: the running debug pod.
    """

    def __init__(self, configuration: Configuration, pod: DebugPod) -> None:
        self._configuration = configuration
        self.pod = pod
        self._routes: dict[str, tuple[str, ...]] = {}
        self._gzip: dict[tuple[str, ...], bool] = {}
        self._lock = threading.Lock()
        self.received_bytes = 0

    @property
    def node(self) -> str:
        return self.pod.node

    def _exec(self, argv: Sequence[str], timeout: float,
              sink: StdoutConsumer | None = None) -> ExecResult:  # fmt: skip
        shown = tuple(GZIP_SCRIPT_NAME if arg == GZIP_SCRIPT else arg for arg in argv)
        result = exec_in_pod(
            self._configuration, self.pod.namespace, self.pod.name, argv,
            container=self.pod.container, node=self.node, timeout=timeout, on_stdout=sink,
            shown=shown,
        )  # fmt: skip
        with self._lock:
            self.received_bytes += result.received
        return result

    def _candidates(self, program: str) -> list[tuple[str, ...]]:
        known = self._routes.get(program)
        if known is not None:
            return [known]
        return [HOST_ROOT, IMAGE] if program in HOST_FIRST else [IMAGE, HOST_ROOT]

    def _routed(
        self, argv: Sequence[str], timeout: float, sink: StdoutConsumer | None
    ) -> tuple[tuple[str, ...], ExecResult | None, list[str]]:
        """Run ``argv`` through the first route that has its program; remember the route."""
        program = argv[0]
        reasons: list[str] = []
        deadline = time.monotonic() + timeout
        for prefix in self._candidates(program):
            full = (*prefix, *argv)
            try:
                result = self._exec(full, max(1.0, deadline - time.monotonic()), sink)
            except ExecNotStarted as exc:
                if not exc.missing:
                    why = str(exc).removeprefix(f"{self.node}: ")
                    raise CollectionError(why, node=self.node, command=full) from exc
                reasons.append(f"not in image {self.pod.image}" if not prefix
                               else f"{prefix[0]} missing in the image")  # fmt: skip
                continue
            if prefix == HOST_ROOT and _chroot_missing(result, program):
                reasons.append("not on the host (chroot /host)")
                continue
            self._routes[program] = prefix
            return full, result, reasons
        return tuple(argv), None, reasons

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        started_at = datetime.now(UTC)
        start = time.monotonic()
        full, result, reasons = self._routed(argv, timeout, None)
        if result is None:
            return _missing(name, full, reasons, started_at)
        return _output(name, full, result, result.stdout, started_at, start)

    def run_streaming(
        self, name: str, argv: Sequence[str], *, timeout: float, on_stdout: StdoutConsumer
    ) -> CommandOutput:
        started_at = datetime.now(UTC)
        start = time.monotonic()
        pieces: list[bytes] = []

        def keep(data: bytes) -> None:
            pieces.append(data)
            on_stdout(data)

        prefix = self._routes.get(argv[0], IMAGE)
        if self._has_gzip(prefix):
            # The pipeline runs where the program lives: the host's sh and gzip for the
            # host's conntrack (chroot /host sh -c ...), the image's for the image's.
            script = (*prefix, "sh", "-c", GZIP_SCRIPT, "sh", *argv)
            inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            result = self._exec(script, timeout, lambda data: keep(inflate.decompress(data)))
            if result.returncode != MISSING_COMMAND_STATUS or pieces:
                keep(inflate.flush())
                full = (*prefix, *argv)
                if not inflate.eof and result.returncode == 0:
                    message = "compressed output ended early (gzip stream incomplete)"
                    raise CollectionError(message, node=self.node, command=full)
                self._routes.setdefault(argv[0], prefix)
                return _output(name, full, result, b"".join(pieces), started_at, start)
        full, routed, reasons = self._routed(argv, timeout, keep)
        if routed is None:
            return _missing(name, full, reasons, started_at)
        return _output(name, full, routed, b"".join(pieces), started_at, start)

    def _has_gzip(self, prefix: tuple[str, ...]) -> bool:
        """Whether ``sh`` and ``gzip`` exist where ``prefix`` runs things (probed once)."""
        if prefix not in self._gzip:
            try:
                found = self._exec((*prefix, *GZIP_PROBE), PROBE_TIMEOUT).returncode == 0
            except ExecNotStarted:
                found = False  # no sh (or no chroot) in the image
            self._gzip[prefix] = found
        return self._gzip[prefix]


def _chroot_missing(result: ExecResult, program: str) -> bool:
    """``chroot /host PROG`` said PROG does not exist on the host (chroot's exit 127)."""
    return result.returncode == MISSING_COMMAND_STATUS and (
        b"chroot:" in result.stderr or program.encode() in result.stderr
    )


def _output(name: str, argv: tuple[str, ...], result: ExecResult, stdout: bytes,
            started_at: datetime, start: float) -> CommandOutput:  # fmt: skip
    return CommandOutput(
        name=name, argv=argv, exit_status=result.returncode, stdout=stdout,
        stderr=result.stderr, started_at=started_at, duration_s=time.monotonic() - start,
    )  # fmt: skip


def _missing(name: str, argv: tuple[str, ...], reasons: list[str],
             started_at: datetime) -> CommandOutput:  # fmt: skip
    why = ", ".join(reasons) or "not found"
    return CommandOutput(
        name=name, argv=argv, exit_status=MISSING_COMMAND_STATUS, stdout=b"",
        stderr=f"ctdiag: cannot run {argv[0]}: {why}\n".encode(),
        started_at=started_at, duration_s=0.0,
    )  # fmt: skip
