"""The lab API server on its own thread and event loop, and the handle tests hold.

:func:`serve_lab_api` starts it on ``127.0.0.1`` (a free port, HTTPS with a fresh CA,
bearer token required) and writes a kubeconfig the official client loads unmodified. On
exit it kills every exec process, stops the server and removes its temporary files.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ctdiag.lab.apiserver import discovery, exec_ws, routes_core, routes_pods
from ctdiag.lab.apiserver.access import api_middleware
from ctdiag.lab.apiserver.cluster import LabApiNode, LabApiPod, LabApiService
from ctdiag.lab.apiserver.faults import LabFaults
from ctdiag.lab.apiserver.images import ImageFilesystems
from ctdiag.lab.apiserver.kubelet import start_waiting_pods
from ctdiag.lab.apiserver.objects import (
    namespace_object,
    node_object,
    node_ready_condition,
    workload_pod_object,
)
from ctdiag.lab.apiserver.services import endpoint_slice_objects, service_object
from ctdiag.lab.apiserver.state import STATE, ApiState, DeleteRecord
from ctdiag.lab.apiserver.tls import make_certificate

CONTEXT = "ctdiag-lab"
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


def _scratch_root() -> str | None:
    """tmpfs when there is one: the image PATH farms are a thousand symlinks each, which
    take up to a second on a busy disk and milliseconds in memory."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def _app(state: ApiState) -> web.Application:
    app = web.Application(middlewares=[api_middleware], client_max_size=16 << 20)
    app[STATE] = state
    for table in (discovery.routes, routes_core.routes, routes_pods.routes, exec_ws.routes):
        app.add_routes(table)
    return app


def _seed(
    state: ApiState, services: Sequence[LabApiService], pods: Sequence[LabApiPod]
) -> None:
    store = state.store
    store.create("namespaces", namespace_object("default", {}, {}))
    for node in state.nodes.values():
        store.create("nodes", node_object(node))
    namespaces = [*(svc.namespace for svc in services), *(pod.namespace for pod in pods)]
    for namespace in dict.fromkeys(namespaces):
        if store.get("namespaces", "", namespace) is None:
            store.create("namespaces", namespace_object(namespace, {}, {}))
    for svc in services:
        store.create("services", service_object(svc))
        for piece in endpoint_slice_objects(svc, {}):
            store.create("endpointslices", piece)
    for pod in pods:
        host = state.nodes[pod.node].ip if pod.node in state.nodes else ""
        store.create("pods", workload_pod_object(pod, host))


def write_kubeconfig(path: Path, url: str, ca_pem: bytes, token: str) -> None:
    """A kubeconfig (JSON, which is YAML) with one cluster, user and current context."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": url, "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {
            "cluster": CONTEXT, "user": CONTEXT, "namespace": "default",
        }}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


class LabApiServer:
    """A running lab API server, as the test thread sees it.

    Attributes:
        url: ``https://127.0.0.1:PORT``.
        kubeconfig: the kubeconfig file (context ``ctdiag-lab``, namespace ``default``).
        token: the bearer token every request needs.
        faults: the faults to inject; change them at any time.
    """

    def __init__(
        self, url: str, kubeconfig: Path, token: str, faults: LabFaults,
        state: ApiState, loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.url = url
        self.kubeconfig = kubeconfig
        self.token = token
        self.faults = faults
        self._state = state
        self._loop = loop

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored pods (of one namespace, or all)."""
        return self._state.store.snapshot("pods", namespace)

    def namespaces(self) -> list[str]:
        """Names of the stored namespaces (Terminating ones included)."""
        return [n["metadata"]["name"] for n in self._state.store.snapshot("namespaces")]

    def requests(self) -> list[tuple[str, str]]:
        """Every request so far as ``(method, path with query string)``."""
        with self._state.log_lock:
            return list(self._state.requests)

    def deletes(self) -> list[DeleteRecord]:
        """Every DELETE: path with query, and gracePeriodSeconds from query or body."""
        with self._state.log_lock:
            return list(self._state.deletes)

    def exec_log(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """``(namespace, pod, argv)`` of every exec that reached the container runtime."""
        with self._state.log_lock:
            return [(e.namespace, e.pod, e.argv) for e in self._state.execs]

    def set_node_ready(self, name: str, ready: bool) -> None:
        """Flip a node's Ready condition; pods waiting for it start when it turns Ready.

        Raises:
            KeyError: no node has that name.
        """
        future = asyncio.run_coroutine_threadsafe(self._set_ready(name, ready), self._loop)
        future.result(_START_TIMEOUT_S)

    async def _set_ready(self, name: str, ready: bool) -> None:
        state = self._state
        state.nodes[name] = dataclasses.replace(state.nodes[name], ready=ready)

        def change(obj: dict[str, Any]) -> None:
            conditions = [c for c in obj["status"]["conditions"] if c["type"] != "Ready"]
            obj["status"]["conditions"] = [*conditions, node_ready_condition(ready)]

        state.store.update("nodes", "", name, change)
        if ready:
            start_waiting_pods(state, name)


class _Runtime:
    """The thread, loop and aiohttp runner behind one server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="ctdiag-lab-apiserver", daemon=True
        )
        self.runner: web.AppRunner | None = None
        self.state: ApiState | None = None

    def call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def start(
        self, state_args: dict[str, Any], seed: tuple[Sequence[LabApiService], Sequence[LabApiPod]],
        sock: socket.socket, context: Any,
    ) -> ApiState:
        self.state = state = ApiState(**state_args)
        _seed(state, *seed)
        self.runner = web.AppRunner(_app(state), access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        await web.SockSite(self.runner, sock, ssl_context=context).start()
        return state

    async def stop(self) -> None:
        state = self.state
        if state is not None:
            state.stopping.set()
            state.kill_execs()
        if self.runner is not None:
            await self.runner.cleanup()
        if state is not None:
            state.kill_execs()
            for task in list(state.tasks):
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)

    def close(self) -> None:
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self.call(self.stop(), _STOP_TIMEOUT_S)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(_STOP_TIMEOUT_S)
        if not self.thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def serve_lab_api(
    nodes: Sequence[LabApiNode],
    *,
    services: Sequence[LabApiService] = (),
    pods: Sequence[LabApiPod] = (),
    faults: LabFaults | None = None,
    kubeconfig: Path | None = None,
) -> Iterator[LabApiServer]:
    """Run a lab API server for the duration of the ``with`` block.

    Args:
        nodes: the cluster's nodes (exec in their pods runs in their network namespaces).
        services: Services to serve, with their EndpointSlices.
        pods: workload pods to list as Running (nothing runs them).
        faults: faults to inject (a fresh, empty :class:`LabFaults` when ``None``).
        kubeconfig: where to write the kubeconfig (a temporary file when ``None``).

    Yields:
        The running server.
    """
    faults = faults if faults is not None else LabFaults()
    workdir = Path(tempfile.mkdtemp(prefix="ctdiag-apiserver-", dir=_scratch_root()))
    runtime = _Runtime()
    try:
        cert = make_certificate(workdir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{sock.getsockname()[1]}"
        token = secrets.token_urlsafe(32)
        state_args = {
            "token": token, "faults": faults, "nodes": {n.name: n for n in nodes},
            "images": ImageFilesystems(workdir / "images"),
        }
        runtime.thread.start()
        state = runtime.call(
            runtime.start(state_args, (services, pods), sock, cert.server_context()),
            _START_TIMEOUT_S,
        )
        config_path = kubeconfig if kubeconfig is not None else workdir / "kubeconfig"
        write_kubeconfig(config_path, url, cert.ca_cert.read_bytes(), token)
        yield LabApiServer(url, config_path, token, faults, state, runtime.loop)
    finally:
        runtime.close()
        shutil.rmtree(workdir, ignore_errors=True)
