"""``pods/exec`` over WebSocket (channel protocols v5 and v4), running argv for real in the
node's network namespace.

Frames are binary: one channel byte, then payload. The server sends an empty stdout frame
first, stdout and stderr as they arrive (up to :data:`CHUNK` bytes a frame), the exit
``Status`` on channel 3, then a close frame. A client that goes away kills the process
group. The fault ``exec_drop_after_bytes`` aborts the TCP connection instead of a status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from typing import Any

from aiohttp import WSMsgType, web

from ctdiag.lab.apiserver.access import authorize
from ctdiag.lab.apiserver.exec_plan import ExecPlan, plan_exec
from ctdiag.lab.apiserver.images import HOST_PATH, find_image
from ctdiag.lab.apiserver.objects import Obj
from ctdiag.lab.apiserver.state import STATE, ApiState, ExecRecord, kill_group
from ctdiag.lab.apiserver.status import bad_request, internal_error, not_found

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
#: Largest payload of one stdout/stderr frame (and of one pipe read).
CHUNK = 1 << 20
#: Seconds the server waits for the client's close frame after its own.
CLOSE_TIMEOUT_S = 2.0
_STDIN, _STDOUT, _STDERR, _STATUS, _CLOSE = 0, 1, 2, 3, 255
_IP = shutil.which("ip", path=HOST_PATH) or "/usr/sbin/ip"

routes = web.RouteTableDef()


class _Dropped(Exception):
    """The drop fault fired: the connection is gone, no status may follow."""


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in {"true", "1"}


def _container(pod: Obj, wanted: str | None) -> Obj:
    containers: list[Obj] = pod["spec"]["containers"]
    name = pod["metadata"]["name"]
    if wanted:
        for container in containers:
            if container["name"] == wanted:
                return container
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    if len(containers) > 1:
        names = " ".join(c["name"] for c in containers)
        raise bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{names}]"
        )
    return containers[0]


def _check_running(pod: Obj, container: Obj) -> None:
    phase = pod["status"].get("phase")
    if not pod["spec"].get("nodeName"):
        raise bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")
    if phase in {"Succeeded", "Failed"}:
        raise bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    statuses = pod["status"].get("containerStatuses") or []
    running = any(s["name"] == container["name"] and "running" in s["state"] for s in statuses)
    if phase != "Running" or not running:
        raise bad_request(
            f'unable to upgrade connection: container not found ("{container["name"]}")'
        )


def exit_status(argv: tuple[str, ...], code: int) -> dict[str, Any]:
    """The channel-3 Status the kubelet sends for exit status ``code``."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command "
        f"[{' '.join(argv)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def runtime_error_status(message: str) -> dict[str, Any]:
    """The channel-3 Status for a runtime failure (program not in the image)."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


async def _stalled_while_waited(request: web.Request, seconds: float) -> bool:
    """Hold the answer ``seconds``; ``False`` as soon as the client has gone (as a stalled
    kubelet's upgrade ends when the client drops the connection), so no stall outlives it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        if request.transport is None or request.transport.is_closing():
            return False
        await asyncio.sleep(min(left, 0.1))
    return True


@routes.route("GET", "/api/v1/namespaces/{namespace}/pods/{name}/exec")
@routes.route("POST", "/api/v1/namespaces/{namespace}/pods/{name}/exec")
async def exec_pod(request: web.Request) -> web.StreamResponse:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    authorize(request, "create", "pods/exec", namespace, name)
    state = request.app[STATE]
    argv = tuple(request.query.getall("command", []))
    streams = {s: _flag(request, s) for s in ("stdin", "stdout", "stderr", "tty")}
    if not (streams["stdin"] or streams["stdout"] or streams["stderr"]):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    pod = state.store.get("pods", namespace, name)
    if pod is None:
        raise not_found("pods", name)
    container = _container(pod, request.query.get("container"))
    if not argv:
        raise bad_request("you must specify at least one command for the container")
    _check_running(pod, container)
    node = state.nodes.get(pod["spec"]["nodeName"])
    image = find_image(container["image"])
    if node is None or image is None:
        raise internal_error(f"error dialing backend: no kubelet for node {node}")
    ws = web.WebSocketResponse(protocols=PROTOCOLS, compress=False, timeout=CLOSE_TIMEOUT_S)
    if not ws.can_prepare(request).ok:
        raise bad_request("Upgrade request required")
    if not await _stalled_while_waited(request, state.faults.exec_upgrade_delay_s):
        return web.Response(status=408)  # the client gave up during the stall: nothing runs
    await ws.prepare(request)
    state.log_exec(ExecRecord(namespace, name, argv))
    plan = plan_exec(argv, image, node, state.images)
    session = _ExecSession(state, request, ws, (namespace, name), streams)
    await session.run(argv, plan, node.netns)
    return ws


class _ExecSession:
    def __init__(
        self,
        state: ApiState,
        request: web.Request,
        ws: web.WebSocketResponse,
        pod: tuple[str, str],
        streams: dict[str, bool],
    ) -> None:
        self._state = state
        self._request = request
        self._ws = ws
        self._pod = pod
        self._streams = streams
        self._stdout_bytes = 0
        self._process: asyncio.subprocess.Process | None = None
        self._argv: tuple[str, ...] = ()

    async def run(self, argv: tuple[str, ...], plan: ExecPlan, netns: str) -> None:
        self._argv = argv
        try:
            await self._ws.send_bytes(bytes([_STDOUT]))
            if plan.runtime_error is not None:
                await self._finish(runtime_error_status(plan.runtime_error))
            elif plan.argv is None:
                if self._streams["stderr"] and plan.stderr:
                    await self._ws.send_bytes(bytes([_STDERR]) + plan.stderr)
                await self._finish(exit_status(argv, plan.exit_code))
            else:
                code = await self._run_process(plan, netns)
                if code is not None:
                    await self._finish(exit_status(argv, code))
        except (_Dropped, ConnectionError):
            pass
        finally:
            if self._process is not None:
                kill_group(self._process)
                self._state.untrack(self._pod, self._process)

    async def _finish(self, status: dict[str, Any]) -> None:
        await self._ws.send_bytes(bytes([_STATUS]) + json.dumps(status).encode())
        await self._ws.close()

    async def _run_process(self, plan: ExecPlan, netns: str) -> int | None:
        """Run the process to its end; its exit status, or ``None`` if the client left."""
        assert plan.argv is not None
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        tty = self._streams["tty"]
        process = await asyncio.create_subprocess_exec(
            _IP, "netns", "exec", netns, *plan.argv,
            stdin=pipe if self._streams["stdin"] else null,
            stdout=pipe if self._streams["stdout"] or tty else null,
            stderr=asyncio.subprocess.STDOUT if tty else pipe if self._streams["stderr"] else null,
            env={"PATH": plan.search_path, "LC_ALL": "C", "TZ": "UTC", "HOME": "/root",
                 "HOSTNAME": self._pod[1], "HOST": "/host"},
            start_new_session=True,
            limit=CHUNK,
        )
        self._process = process
        self._state.track(self._pod, process)
        pumps = [
            asyncio.ensure_future(self._pump(stream, channel))
            for stream, channel in ((process.stdout, _STDOUT), (process.stderr, _STDERR))
            if stream is not None
        ]
        client = asyncio.ensure_future(self._read_client(process))
        output: asyncio.Future[list[Any]] = asyncio.gather(*pumps)
        try:
            waiting: set[asyncio.Future[Any]] = {output, client}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not output.done():  # the client left before the output ended
                return None
            output.result()  # re-raise _Dropped or a send failure
            code = await process.wait()
        finally:
            for task in (*pumps, client):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*pumps, client, return_exceptions=True)
        return 128 - code if code < 0 else code

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        prefix = bytes([channel])
        while data := await stream.read(CHUNK):
            if channel == _STDOUT:
                data = await self._maybe_drop(data)
            await self._ws.send_bytes(prefix + data)

    async def _maybe_drop(self, data: bytes) -> bytes:
        limit = self._state.faults.exec_drop_for(" ".join(self._argv))
        self._stdout_bytes += len(data)
        if limit is None or self._stdout_bytes < limit:
            return data
        keep = len(data) - (self._stdout_bytes - limit)
        if keep > 0:
            await self._ws.send_bytes(bytes([_STDOUT]) + data[:keep])
        transport = self._request.transport
        for _ in range(200):  # let what was sent reach the client, then cut the line
            if transport is None or transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.01)
        if transport is not None:
            transport.abort()
        raise _Dropped

    async def _read_client(self, process: asyncio.subprocess.Process) -> None:
        """Forward stdin; return when the client closes or disconnects."""
        async for message in self._ws:
            if message.type is not WSMsgType.BINARY or not message.data:
                continue
            channel, payload = message.data[0], message.data[1:]
            if channel == _STDIN and process.stdin is not None and payload:
                process.stdin.write(payload)
                with contextlib.suppress(ConnectionError):
                    await process.stdin.drain()
            elif channel == _CLOSE and payload[:1] == bytes([_STDIN]) and process.stdin:
                process.stdin.close()
