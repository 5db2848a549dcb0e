"""Run one argv in a pod through the exec WebSocket, reading frames straight off the socket.

``kubernetes.stream.stream()`` is avoided on purpose (see the README's Performance): it mixes
stdout with stderr and loses the exit status unless told otherwise, returns partial output
on a timeout without saying so, and buffers quadratically (64 MB took 31 s). Here the
official client only opens the connection (its TLS, proxy and credential handling); every
frame is then read as it comes: channel 1 stdout, 2 stderr, 3 the ``metav1.Status`` that
carries the exit code. A stream that ends without that status was cut short: an error,
never a partial result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import websocket
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import get_websocket_url

from ctdiag.collect.kube.access import one_line
from ctdiag.collect.kube.exec_socket import open_exec_socket
from ctdiag.errors import (
    ApiError,
    ClusterError,
    CollectionError,
    ForbiddenError,
    NotFoundError,
)

STDOUT, STDERR, STATUS = 1, 2, 3
#: v5 only: the peer closes a channel (we send no stdin, so only the server uses it).
CLOSE_CHANNEL = 255
#: The message container runtimes give for an argv[0] that is not in the image.
NOT_FOUND_MARKERS = ("executable file not found", "no such file or directory")

#: Called with every piece of stdout as it arrives.
StdoutSink = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class ExecResult:
    """A finished exec, shaped like :class:`subprocess.CompletedProcess`.

    Attributes:
        args: the argv that ran.
        returncode: its exit status.
        stdout: everything it wrote on stdout (empty when a sink took it).
        stderr: everything it wrote on stderr.
        received: bytes received on the wire (frames' payloads).
    """

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    received: int = 0

    def check_returncode(self, node: str) -> None:
        """Raise :class:`CollectionError` (stderr's first line) unless the exit status is 0."""
        if self.returncode != 0:
            first = self.stderr.decode(errors="replace").strip().splitlines()[:1]
            why = f": {one_line(first[0])}" if first else ""
            message = f"exit status {self.returncode}{why}"
            raise CollectionError(message, node=node, command=self.args)


class ExecNotStarted(ClusterError):
    """The container runtime did not start the command (not in the image, pod gone ...).

    Attributes:
        missing: argv[0] does not exist in the container image.
    """

    def __init__(self, message: str, *, node: str, missing: bool) -> None:
        self.missing = missing
        super().__init__(message, node=node)


def exec_url(configuration: Configuration, namespace: str, pod: str, container: str,
             argv: Sequence[str]) -> str:  # fmt: skip
    """The ``wss://`` address of the exec subresource running ``argv`` (no shell)."""
    query = [("command", arg) for arg in argv]
    query += [("container", container), ("stdin", "false"), ("stdout", "true"),
              ("stderr", "true"), ("tty", "false")]  # fmt: skip
    path = f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/exec"
    return str(get_websocket_url(f"{configuration.host}{path}?{urlencode(query)}"))


def _headers(configuration: Configuration) -> dict[str, str]:
    hook = getattr(configuration, "refresh_api_key_hook", None)
    if hook is not None:  # exec credential plugins and rotated service-account tokens
        hook(configuration)
    # The same header the REST client sends (a bearer token: kubeconfig, service account).
    return {
        str(auth["key"]).lower(): str(auth["value"])
        for auth in configuration.auth_settings().values()
        if auth.get("in") == "header" and auth.get("value")
    }


def _connect(configuration: Configuration, url: str, what: str, node: str, timeout: float,
             named: tuple[str, ...]) -> websocket.WebSocket:  # fmt: skip
    try:
        ws = open_exec_socket(configuration, url, _headers(configuration), timeout)
    except (TimeoutError, websocket.WebSocketTimeoutException) as exc:
        message = f"{what}: no answer to the exec request within {timeout:g} s"
        raise CollectionError(message, node=node, command=named) from exc
    except websocket.WebSocketBadStatusException as exc:
        body = exc.resp_body.decode(errors="replace") if exc.resp_body else ""
        message = _status_message(body) or one_line(str(exc))
        status = int(exc.status_code)
        kind = {403: ForbiddenError, 404: NotFoundError}.get(status, ApiError)
        raise kind(f"{what}: HTTP {status}: {message}", status=status, node=node) from exc
    except (websocket.WebSocketException, OSError) as exc:
        message = f"{what}: cannot connect: {one_line(str(exc)) or type(exc).__name__}"
        raise ApiError(message, status=0, node=node) from exc
    return ws


def _status_message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body)
    return one_line(str(data.get("message", ""))) if isinstance(data, dict) else ""


def exec_in_pod(
    configuration: Configuration, namespace: str, pod: str, argv: Sequence[str], *,
    container: str, node: str, timeout: float, on_stdout: StdoutSink | None = None,
    shown: Sequence[str] | None = None,
) -> ExecResult:  # fmt: skip
    """Run ``argv`` in the pod's container and wait for its exit status.

    Args:
        on_stdout: when given, receives stdout piece by piece and ``stdout`` stays empty.
        timeout: seconds for the whole call; while connecting, for each step of the
            connection (TCP, TLS, the upgrade), so an unanswered upgrade ends at it.
        shown: the argv errors name instead of ``argv`` (a script named, not printed).

    Raises:
        ExecNotStarted: the runtime refused to start the command (``missing`` tells when
            argv[0] is not in the image).
        ApiError: the exec request was refused (403, 404 ...).
        CollectionError: timeout, or the stream ended without an exit status.
    """
    args = tuple(argv)
    named = tuple(shown) if shown is not None else args
    what = f"exec in pod {namespace}/{pod}"
    deadline = time.monotonic() + timeout
    ws = _connect(configuration, exec_url(configuration, namespace, pod, container, args),
                  what, node, timeout, named)  # fmt: skip
    out: list[bytes] = []
    err: list[bytes] = []
    sink = on_stdout if on_stdout is not None else out.append
    received = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ws.settimeout(remaining)
            opcode, frame = ws.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            data: bytes = frame.data
            if not data or opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
                continue
            received += len(data) - 1
            channel = data[0]
            if channel == STDOUT:
                if len(data) > 1:
                    sink(data[1:])
            elif channel == STDERR:
                err.append(data[1:])
            elif channel == STATUS:
                code = _exit_code(data[1:], named, node)
                return ExecResult(args, code, b"".join(out), b"".join(err), received)
    except (TimeoutError, websocket.WebSocketTimeoutException) as exc:
        message = f"timed out after {timeout:g} s ({received} bytes received)"
        raise CollectionError(message, node=node, command=named) from exc
    except (websocket.WebSocketException, OSError) as exc:
        why = one_line(str(exc)) or type(exc).__name__
        message = f"exec stream broke after {received} bytes: {why}"
        raise CollectionError(message, node=node, command=named) from exc
    finally:
        ws.shutdown()
    message = f"exec stream ended after {received} bytes without an exit status (cut short)"
    raise CollectionError(message, node=node, command=named)


def _exit_code(payload: bytes, args: tuple[str, ...], node: str) -> int:
    """The exit status in a channel-3 ``metav1.Status``.

    Raises:
        ExecNotStarted: a failure that is not an exit code (the command never ran).
    """
    try:
        status: dict[str, Any] = json.loads(payload)
    except ValueError as exc:
        raise CollectionError(f"unreadable exec status {payload[:200]!r}", node=node,
                              command=args) from exc  # fmt: skip
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or ():
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", "1"))
        return 1
    message = one_line(str(status.get("message") or status))
    missing = any(marker in message.lower() for marker in NOT_FOUND_MARKERS)
    raise ExecNotStarted(f"{args[0]} did not start: {message}", node=node, missing=missing)
