"""The in-memory object store: one resourceVersion counter, an event history, watchers.

Objects are JSON dicts and immutable once stored: an update stores a changed deep copy, so
events and snapshots can share them. Writes happen only on the server's event loop; reads
may come from the test thread, hence the lock.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ctdiag.lab.apiserver.objects import Obj, new_uid, now

RESOURCES = ("namespaces", "nodes", "pods", "services", "endpointslices")
CLUSTER_SCOPED = frozenset({"namespaces", "nodes"})
#: Events kept for watches that resume from a resourceVersion.
HISTORY = 10_000


@dataclass(frozen=True, slots=True)
class Event:
    """A change of one object.

    Attributes:
        resource_version: the store's version after the change.
        resource: ``pods``, ``namespaces``...
        type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
        obj: the object after the change (for DELETED: as last stored).
        old: the object before the change (``None`` for ADDED).
    """

    resource_version: int
    resource: str
    type: str
    obj: Obj
    old: Obj | None


class ExpiredError(Exception):
    """A watch asked to resume from a version older than the history holds."""


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


class ObjectStore:
    """Objects by resource and ``(namespace, name)``, with watch events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {r: {} for r in RESOURCES}
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._watchers: set[asyncio.Queue[Event]] = set()

    @property
    def version(self) -> int:
        """The current resourceVersion."""
        with self._lock:
            return self._version

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object (do not mutate it), or ``None``."""
        with self._lock:
            return self._objects[resource].get((namespace, name))

    def objects(self, resource: str, namespace: str | None = None) -> tuple[list[Obj], int]:
        """Stored objects in name order (of one namespace, or all) and the current version."""
        with self._lock:
            items = [
                obj
                for (ns, _), obj in sorted(self._objects[resource].items())
                if namespace is None or ns == namespace
            ]
            return items, self._version

    def snapshot(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Deep copies, for callers outside the event loop."""
        items, _ = self.objects(resource, namespace)
        return copy.deepcopy(items)

    def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object, filling uid, creationTimestamp and resourceVersion."""
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", new_uid())
        meta.setdefault("creationTimestamp", now())
        with self._lock:
            key = _key(stored)
            if key in self._objects[resource]:
                raise KeyError(f"{resource} {key} exists")
            self._version += 1
            meta["resourceVersion"] = str(self._version)
            self._objects[resource][key] = stored
            self._emit(Event(self._version, resource, "ADDED", stored, None))
        return stored

    def update(
        self, resource: str, namespace: str, name: str, change: Callable[[Obj], Any]
    ) -> Obj | None:
        """Apply ``change`` to a copy of the object and store it; ``None`` if it is gone."""
        with self._lock:
            old = self._objects[resource].get((namespace, name))
            if old is None:
                return None
            new = copy.deepcopy(old)
            change(new)
            self._version += 1
            new["metadata"]["resourceVersion"] = str(self._version)
            self._objects[resource][(namespace, name)] = new
            self._emit(Event(self._version, resource, "MODIFIED", new, old))
            return new

    def delete(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Remove the object; what it was, or ``None`` if it was not there."""
        with self._lock:
            old = self._objects[resource].pop((namespace, name), None)
            if old is None:
                return None
            self._version += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self._version)
            self._emit(Event(self._version, resource, "DELETED", gone, old))
            return gone

    def _emit(self, event: Event) -> None:
        self._history.append(event)
        for queue in self._watchers:
            queue.put_nowait(event)

    def subscribe(self, since: int | None) -> tuple[list[Event], asyncio.Queue[Event]]:
        """Register a watcher: events after version ``since`` so far, and a queue of later ones.

        Raises:
            ExpiredError: ``since`` is older than the history kept.
        """
        queue: asyncio.Queue[Event] = asyncio.Queue()
        with self._lock:
            backlog: list[Event] = []
            if since is not None and since < self._version:
                if not self._history or self._history[0].resource_version > since + 1:
                    raise ExpiredError(f"too old resource version: {since} ({self._version})")
                backlog = [e for e in self._history if e.resource_version > since]
            self._watchers.add(queue)
        return backlog, queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        """Stop feeding ``queue``."""
        with self._lock:
            self._watchers.discard(queue)
