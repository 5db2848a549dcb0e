"""The nodes a run checks, and how each is reached: pure description plus a runner factory.

A target is chosen on the command line (``--local``, ``--netns NAME``; ``--node NAME``,
``--all-nodes`` and ``--lab`` reach Kubernetes nodes through debug pods), or read from a run
saved with ``--save-snapshot`` (``--snapshot DIR``). Its ``node`` is the name in test ids
and reports.
"""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ctdiag.collect.runners import CommandRunner, LocalRunner, NetnsRunner
from ctdiag.errors import CtdiagError, SnapshotError

if TYPE_CHECKING:  # light at import: the pytest plugin chooses targets before any run
    from ctdiag.collect.store.run_reader import SavedNode
    from ctdiag.model.samples import NodeSample


class TargetKind(enum.Enum):
    """How a node is reached."""

    LOCAL = "local"
    NETNS = "netns"
    KUBE = "kube"
    """A cluster node, reached through a debug pod (the lab's nodes too)."""
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """One node to check.

    Attributes:
        node: its name in test ids and reports (host name, namespace name, lab node).
        kind: how it is reached.
        namespace: the network namespace for ``NETNS`` targets.
        saved: where a ``SNAPSHOT`` target's sample is saved.
    """

    node: str
    kind: TargetKind
    namespace: str | None = None
    saved: SavedNode | None = None

    def runner(self) -> CommandRunner:
        """A runner executing this node's commands.

        Raises:
            CollectionError: the namespace does not exist.
            CtdiagError: a ``SNAPSHOT`` target, which runs nothing, or a ``KUBE`` target,
                whose runner comes from its debug pod session.
        """
        if self.kind is TargetKind.SNAPSHOT:
            raise CtdiagError(f"{self.node}: a saved snapshot, no commands can run on it")
        if self.kind is TargetKind.KUBE:
            raise CtdiagError(f"{self.node}: a cluster node, reached through its debug pod")
        if self.kind is TargetKind.LOCAL:
            return LocalRunner(self.node)
        assert self.namespace is not None
        return NetnsRunner(self.namespace)


def select_targets(
    *, local: bool, namespaces: Sequence[str], kube_nodes: Sequence[str] = ()
) -> list[NodeTarget]:
    """The targets named on the command line, in the order given, without repeats.

    Raises:
        CtdiagError: a namespace name is empty, or one node name is used twice.
    """
    targets: list[NodeTarget] = []
    if local:
        targets.append(NodeTarget(socket.gethostname(), TargetKind.LOCAL))
    for name in namespaces:
        if not name or "/" in name:
            raise CtdiagError(f"--netns {name!r}: not a network namespace name")
        targets.append(NodeTarget(name, TargetKind.NETNS, name))
    targets.extend(NodeTarget(name, TargetKind.KUBE) for name in kube_nodes)
    seen: set[str] = set()
    unique: list[NodeTarget] = []
    for target in targets:
        if target.node in seen:
            if target in unique:
                continue
            raise CtdiagError(f"node name {target.node!r} is selected twice in different ways")
        seen.add(target.node)
        unique.append(target)
    return unique


def saved_targets(directory: str | os.PathLike[str]) -> list[NodeTarget]:
    """The nodes of a run saved with ``--save-snapshot`` (or a snapshot), in the run's order.

    Raises:
        SnapshotError: the directory is not a readable run (one line naming the file).
    """
    from ctdiag.collect.store.run_reader import read_run
    from ctdiag.collect.store.run_writer import RUN_MANIFEST

    run = read_run(directory)
    if not run.nodes:
        raise SnapshotError(f"run {run.path}: {RUN_MANIFEST}: holds no node")
    return [NodeTarget(node.node, TargetKind.SNAPSHOT, saved=node) for node in run.nodes]


class SampleRecorder(Protocol):
    """Told about every node's sample as it is obtained (``--save-snapshot``'s writer)."""

    def record(self, sample: NodeSample) -> None: ...

    def record_failure(self, node: str, message: str) -> None: ...
