"""Argv-only command runner for the lab's network namespaces, with timeouts and clear errors.

Everything the lab does to the kernel goes through here, so that every command has a
timeout, no shell ever sees a string, and a failure names the namespace and the argv.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ctdiag.errors import CollectionError, LabError

#: The one prefix every lab resource carries: namespaces, links, state directory.
PREFIX = "ctdlab-"
#: Where lab processes write their logs and the lab its scenario state. Removed by ``down``.
STATE_DIR = Path("/run") / f"{PREFIX}state"
DEFAULT_TIMEOUT = 20.0
HOST = "host"

#: Directory that holds the ``ctdiag`` package, so lab programs import it inside namespaces.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a finished command left behind, shaped like ``subprocess.CompletedProcess``.

    Attributes:
        namespace: the namespace the command ran in, or ``host``.
        argv: the command as run (without the ``ip netns exec`` wrapper).
        returncode: exit status.
        stdout: standard output, decoded as UTF-8 with replacement.
        stderr: standard error, decoded likewise.
    """

    namespace: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def check_returncode(self) -> None:
        """Raise :class:`CollectionError` when the command failed."""
        if self.returncode != 0:
            detail = self.stderr.strip().splitlines()[-1:] or ["no stderr"]
            raise CollectionError(
                f"exit status {self.returncode}: {detail[0]}",
                node=self.namespace,
                command=self.argv,
            )


def validate_name(name: str) -> str:
    """Return ``name`` if it is a lab resource name (prefixed, short, safe characters).

    Raises:
        LabError: the name lacks the prefix, is too long for a link, or has odd characters.
    """
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    if not name.startswith(PREFIX) or not set(name) <= allowed or len(name) > 40:
        raise LabError(f"not a lab resource name: {name!r}")
    return name


def _wrap(namespace: str | None, argv: Sequence[str]) -> list[str]:
    if namespace is None:
        return list(argv)
    return ["ip", "netns", "exec", validate_name(namespace), *argv]


def run(
    argv: Sequence[str],
    *,
    namespace: str | None = None,
    stdin: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run ``argv`` (inside ``namespace`` when given) and wait for it.

    Args:
        argv: the command; never a shell string.
        namespace: lab network namespace to run in, ``None`` for the caller's namespace.
        stdin: text fed to the command's standard input.
        timeout: seconds before the command is killed and :class:`CollectionError` raised.
        check: raise :class:`CollectionError` on a non-zero exit status.
        env: environment of the command (default: the caller's).

    Returns:
        The finished command.
    """
    where = namespace or HOST
    try:
        done = subprocess.run(
            _wrap(namespace, argv),
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            timeout=timeout,
            check=False,
            env=dict(env) if env is not None else None,
        )
    except subprocess.TimeoutExpired as exc:
        message = f"timed out after {timeout:g} s"
        raise CollectionError(message, node=where, command=tuple(argv)) from exc
    except OSError as exc:
        raise CollectionError(f"cannot run: {exc}", node=where, command=tuple(argv)) from exc
    result = CommandResult(
        namespace=where,
        argv=tuple(argv),
        returncode=done.returncode,
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
    )
    if check:
        result.check_returncode()
    return result


def _program_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": _PACKAGE_ROOT, "PYTHONUNBUFFERED": "1"}


def run_program(
    namespace: str, module: str, args: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT
) -> CommandResult:
    """Run ``python -m module args`` inside ``namespace`` and wait for it (checked)."""
    argv = [sys.executable, "-m", module, *args]
    return run(argv, namespace=namespace, timeout=timeout, env=_program_env())


def spawn_program(
    namespace: str, module: str, args: Sequence[str], *, log_name: str
) -> subprocess.Popen[bytes]:
    """Start ``python -m module args`` inside ``namespace``, detached, logging to the state dir.

    The process lives in the namespace, so ``ip netns pids`` finds it and ``down`` kills it
    even when the caller that started it is gone.
    """
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    argv = _wrap(namespace, [sys.executable, "-m", module, *args])
    with (STATE_DIR / f"{log_name}.log").open("ab") as log:
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_program_env(),
                start_new_session=True,
            )
        except OSError as exc:
            message = f"cannot start: {exc}"
            raise CollectionError(message, node=namespace, command=tuple(argv)) from exc


def lab_namespaces() -> list[str]:
    """Names of the network namespaces that carry the lab prefix, sorted."""
    out = run(["ip", "netns", "list"]).stdout
    names = (line.split()[0] for line in out.splitlines() if line.strip())
    return sorted(n for n in names if n.startswith(PREFIX))


def namespace_pids(namespace: str) -> list[int]:
    """Process ids running inside ``namespace`` (empty when it does not exist)."""
    result = run(["ip", "netns", "pids", validate_name(namespace)], check=False)
    return [int(tok) for tok in result.stdout.split() if tok.isdigit()]


def process_command(pid: int) -> str:
    """Command line of ``pid`` for display, or an empty string when it has exited."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie no longer runs anything: treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def terminate(pids: Sequence[int], *, grace: float = 2.0) -> None:
    """SIGTERM ``pids``, wait up to ``grace`` seconds, then SIGKILL the survivors."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        if not any(_alive(p) for p in pids):
            return


def terminate_namespace_processes(namespace: str, *, match: str = "") -> int:
    """Kill the processes inside ``namespace`` whose command line contains ``match``.

    Returns:
        How many processes were signalled.
    """
    pids = [p for p in namespace_pids(namespace) if match in process_command(p)]
    terminate(pids)
    return len(pids)


def read_sysctl(namespace: str, name: str) -> str:
    """Read a sysctl (``net.netfilter.nf_conntrack_max`` style) as seen inside ``namespace``."""
    return run(["sysctl", "-n", name], namespace=namespace).stdout.strip()


def write_sysctl(namespace: str, name: str, value: str | int) -> None:
    """Write a sysctl inside ``namespace`` and read it back.

    Raises:
        LabError: the value did not stick (read-only in this namespace, or out of range).
    """
    # procps sysctl exits 0 even when the kernel refused the write: trust only a read-back.
    done = run(["sysctl", "-q", "-w", f"{name}={value}"], namespace=namespace, check=False)
    now = read_sysctl(namespace, name)
    if now != str(value):
        reason = done.stderr.strip() or f"reads back {now}"
        raise LabError(f"{namespace}: cannot set {name}={value}: {reason}")
