"""The nodes a run checks, and how each is reached: pure description plus a runner factory.

A target is chosen on the command line (``--local``, ``--netns NAME``, ``--lab``; the
Kubernetes path adds its own kind). Its ``node`` is the name in test ids and reports.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from ctdiag.collect.runner import CommandRunner, LocalRunner, NetnsRunner
from ctdiag.errors import CtdiagError


class TargetKind(enum.Enum):
    """How a node is reached."""

    LOCAL = "local"
    NETNS = "netns"
    LAB = "lab"


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """One node to check.

    Attributes:
        node: its name in test ids and reports (host name, namespace name, lab node).
        kind: how it is reached.
        namespace: the network namespace for ``NETNS`` and ``LAB`` targets.
    """

    node: str
    kind: TargetKind
    namespace: str | None = None

    def runner(self) -> CommandRunner:
        """A runner executing this node's commands.

        Raises:
            CollectionError: the namespace does not exist.
        """
        if self.kind is TargetKind.LOCAL:
            return LocalRunner(self.node)
        assert self.namespace is not None
        return NetnsRunner(self.namespace)


def select_targets(
    *, local: bool, namespaces: Sequence[str], lab_nodes: Sequence[str]
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
    targets.extend(NodeTarget(name, TargetKind.LAB, name) for name in lab_nodes)
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
