"""Faults the lab API server injects, switchable from the test thread while it serves.

Every attribute is guarded by one (reentrant) lock because the test thread writes them while the
server's event loop reads them; ``forbidden`` is a set the caller may mutate in place, so
reads of it go through :meth:`LabFaults.is_forbidden`, which copies under the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Generic, TypeVar, cast, overload

_T = TypeVar("_T")


class _Guarded(Generic[_T]):
    """A data descriptor whose reads and writes take the owner's ``_lock``."""

    def __init__(self, default: _T) -> None:
        self._default = default
        self._slot = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _Guarded[_T]: ...
    @overload
    def __get__(self, instance: LabFaults, owner: type[Any]) -> _T: ...
    def __get__(self, instance: LabFaults | None, owner: type[Any]) -> _Guarded[_T] | _T:
        if instance is None:
            return self
        with instance._lock:
            return cast(_T, instance._values.get(self._slot, self._default))

    def __set__(self, instance: LabFaults, value: _T) -> None:
        with instance._lock:
            instance._values[self._slot] = value


class LabFaults:
    """What goes wrong in the lab API server; every field may change while it serves.

    Attributes:
        pod_start_latency_s: delay between a pod's creation and Running.
        pods_never_start: pods stay Pending without container statuses.
        image_pull_failure: every image fails to pull (unknown images always do).
        forbidden: ``(verb, resource)`` pairs answered 403, e.g. ``("create", "pods/exec")``.
        scc_denied: pod creation is refused with OpenShift's SCC admission message.
        server_errors: the next this many REST requests get a 500 Status.
        server_errors_match: only requests whose ``"METHOD path?query"`` contains this
            get (and use up) those 500s: ``"DELETE "``, ``"watch=true"``; ``""`` is every one.
        response_delay_s: delay before every REST answer.
        response_delay_match: only requests whose ``"METHOD path?query"`` contains this
            are delayed (``"DELETE "`` slows teardown alone); ``""`` is every one.
        exec_drop_after_bytes: exec aborts the connection after this many stdout bytes,
            without a status frame.
        exec_drop_match: only execs whose argv (joined by spaces) contains this are cut;
            ``""`` is every one.
        exec_upgrade_delay_s: delay before the exec WebSocket upgrade is answered (a hung
            kubelet behind the API server: the TCP connection is open, no reply comes).
    """

    pod_start_latency_s = _Guarded[float](0.0)
    pods_never_start = _Guarded[bool](False)
    image_pull_failure = _Guarded[bool](False)
    scc_denied = _Guarded[bool](False)
    server_errors = _Guarded[int](0)
    server_errors_match = _Guarded[str]("")
    response_delay_s = _Guarded[float](0.0)
    response_delay_match = _Guarded[str]("")
    exec_drop_after_bytes = _Guarded["int | None"](None)
    exec_drop_match = _Guarded[str]("")
    exec_upgrade_delay_s = _Guarded[float](0.0)

    def __init__(
        self,
        *,
        pod_start_latency_s: float = 0.0,
        pods_never_start: bool = False,
        image_pull_failure: bool = False,
        forbidden: Iterable[tuple[str, str]] = (),
        scc_denied: bool = False,
        server_errors: int = 0,
        server_errors_match: str = "",
        response_delay_s: float = 0.0,
        response_delay_match: str = "",
        exec_drop_after_bytes: int | None = None,
        exec_drop_match: str = "",
        exec_upgrade_delay_s: float = 0.0,
    ) -> None:
        self._lock = threading.RLock()  # take_server_error reads and writes under it
        self._values: dict[str, object] = {}
        self.pod_start_latency_s = pod_start_latency_s
        self.pods_never_start = pods_never_start
        self.image_pull_failure = image_pull_failure
        self.forbidden: set[tuple[str, str]] = set(forbidden)
        self.scc_denied = scc_denied
        self.server_errors = server_errors
        self.server_errors_match = server_errors_match
        self.response_delay_s = response_delay_s
        self.response_delay_match = response_delay_match
        self.exec_drop_after_bytes = exec_drop_after_bytes
        self.exec_drop_match = exec_drop_match
        self.exec_upgrade_delay_s = exec_upgrade_delay_s

    def is_forbidden(self, verb: str, resource: str) -> bool:
        """Whether ``verb`` on ``resource`` (``pods``, ``pods/exec``...) is refused."""
        with self._lock:
            return (verb, resource) in set(self.forbidden)

    def exec_drop_for(self, argv: str) -> int | None:
        """After how many stdout bytes the exec of ``argv`` is cut, if it is."""
        with self._lock:
            return self.exec_drop_after_bytes if self.exec_drop_match in argv else None

    def delay_for(self, request: str = "") -> float:
        """Seconds to hold the answer to ``request`` (``"METHOD path?query"``)."""
        with self._lock:
            return self.response_delay_s if self.response_delay_match in request else 0.0

    def take_server_error(self, request: str = "") -> bool:
        """Consume one injected 500 for ``request`` (``"METHOD path?query"``), if any is left."""
        with self._lock:
            left = self.server_errors
            if left <= 0 or self.server_errors_match not in request:
                return False
            self.server_errors = left - 1
            return True

    def __repr__(self) -> str:
        with self._lock:
            values = {k.lstrip("_"): v for k, v in self._values.items()}
            forbidden = sorted(self.forbidden)
        return f"LabFaults({values}, forbidden={forbidden})"
