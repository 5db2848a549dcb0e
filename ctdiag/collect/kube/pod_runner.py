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

from ctdiag.collect.kube.bundle import (
    BUNDLE_SCRIPT,
    BUNDLE_SCRIPT_NAME,
    LOCATE_SCRIPT,
    LOCATE_SCRIPT_NAME,
    bundle_words,
    split_bundle,
)
from ctdiag.collect.kube.exec import ExecNotStarted, ExecResult, exec_in_pod
from ctdiag.collect.plan import NodeCommand
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
#: Scripts too long for a one-line ERROR, and how errors name them.
_SCRIPT_NAMES = {GZIP_SCRIPT: GZIP_SCRIPT_NAME, BUNDLE_SCRIPT: BUNDLE_SCRIPT_NAME,
                 LOCATE_SCRIPT: LOCATE_SCRIPT_NAME}  # fmt: skip
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
        #: Whether the image has ``sh`` for bundled reads (``None``: not known yet).
        self._bundling: bool | None = None
        self._lock = threading.Lock()
        self.received_bytes = 0

    @property
    def node(self) -> str:
        return self.pod.node

    def _exec(self, argv: Sequence[str], timeout: float,
              sink: StdoutConsumer | None = None) -> ExecResult:  # fmt: skip
        shown = tuple(_SCRIPT_NAMES.get(arg, arg) for arg in argv)
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

    def run_many(self, commands: Sequence[NodeCommand]) -> list[CommandOutput]:
        """Every command's output, in order, from as few execs as it takes: one locating the
        programs not yet routed, then one bundle per route (:mod:`ctdiag.collect.kube.bundle`).

        Each output is what one exec of it would have given (its routed argv, exit status,
        stdout, stderr); its duration is the bundle's. Without ``sh`` in the image, or when a
        bundle fails on the way, the commands run one exec each instead.

        Raises:
            CollectionError: a command timed out or the node cannot be reached.
        """
        started_at = datetime.now(UTC)
        start = time.monotonic()
        try:
            reasons = self._locate({command.argv[0] for command in commands})
        except _NoBundling:
            return [self.run(c.name, c.argv, timeout=c.timeout) for c in commands]
        outputs: list[CommandOutput | None] = [None] * len(commands)
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, command in enumerate(commands):
            prefix = self._routes.get(command.argv[0])
            if prefix is None:
                outputs[index] = _missing(command.name, tuple(command.argv),
                                          reasons.get(command.argv[0], []), started_at)  # fmt: skip
            else:
                groups.setdefault(prefix, []).append(index)
        for prefix, members in groups.items():
            bundled = [commands[index] for index in members]
            for index, output in zip(members, self._bundle(prefix, bundled, started_at, start),
                                     strict=True):  # fmt: skip
                outputs[index] = output
        return [output for output in outputs if output is not None]

    def _bundle(self, prefix: tuple[str, ...], commands: Sequence[NodeCommand],
                started_at: datetime, start: float) -> list[CommandOutput]:  # fmt: skip
        script = (*prefix, "sh", "-c", BUNDLE_SCRIPT, "sh",
                  *bundle_words([command.argv for command in commands]))  # fmt: skip
        try:
            result = self._exec(script, 2 * max(command.timeout for command in commands))
            if result.returncode != 0:
                raise CollectionError(f"bundled reads exited {result.returncode}", node=self.node)
            parts = split_bundle(result.stdout, len(commands), node=self.node)
        except (CollectionError, ExecNotStarted):
            # Nothing is lost: the same commands, one exec each, with their own timeouts.
            return [self.run(c.name, c.argv, timeout=c.timeout) for c in commands]
        duration = time.monotonic() - start
        return [
            CommandOutput(name=command.name, argv=(*prefix, *command.argv),
                          exit_status=part.exit_status, stdout=part.stdout, stderr=part.stderr,
                          started_at=started_at, duration_s=duration)
            for command, part in zip(commands, parts, strict=True)
        ]  # fmt: skip

    def _locate(self, programs: set[str]) -> dict[str, list[str]]:
        """Route every program of ``programs`` not routed yet, with two lookups at most (the
        image's, the host's), in the order one exec per command would have tried them.

        Returns:
            why each program found nowhere is missing.

        Raises:
            _NoBundling: the image has no ``sh`` (then nothing is bundled on this node).
        """
        if self._bundling is False:
            raise _NoBundling
        unknown = sorted(p for p in programs if p not in self._routes)
        if not unknown:
            return {}
        found: dict[tuple[str, ...], set[str]] = {}
        for prefix in (IMAGE, HOST_ROOT):
            try:
                result = self._exec((*prefix, "sh", "-c", LOCATE_SCRIPT, "sh", *unknown),
                                    PROBE_TIMEOUT)  # fmt: skip
            except ExecNotStarted:
                if prefix == IMAGE:
                    self._bundling = False
                    raise _NoBundling from None
                result = None  # no chroot in the image
            listed = result.stdout if result is not None and result.returncode == 0 else b""
            found[prefix] = set(listed.decode(errors="replace").split())
        self._bundling = True
        reasons: dict[str, list[str]] = {}
        for program in unknown:
            route = next((p for p in self._candidates(program) if program in found[p]), None)
            if route is not None:
                self._routes[program] = route
            else:
                reasons[program] = [f"not in image {self.pod.image}",
                                    "not on the host (chroot /host)"]  # fmt: skip
        return reasons

    def _has_gzip(self, prefix: tuple[str, ...]) -> bool:
        """Whether ``sh`` and ``gzip`` exist where ``prefix`` runs things (probed once)."""
        if prefix not in self._gzip:
            try:
                found = self._exec((*prefix, *GZIP_PROBE), PROBE_TIMEOUT).returncode == 0
            except ExecNotStarted:
                found = False  # no sh (or no chroot) in the image
            self._gzip[prefix] = found
        return self._gzip[prefix]


class _NoBundling(Exception):
    """Internal: this node's commands run one exec each."""


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
