"""Which nodes to check, and whether each can take a debug pod (it exists and is Ready).

A pod pinned with ``nodeName`` to a missing or NotReady node stays Pending forever, so each
node is checked before any pod is created, and a node that fails gets one line saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctdiag.collect.kube.access import Cluster
from ctdiag.errors import ClusterError, NotFoundError


@dataclass(frozen=True, slots=True)
class NodeReadiness:
    """What the API says of a node.

    Attributes:
        name: the node's name.
        ready: its Ready condition is True.
        why: the Ready condition's reason and message when not ready (else ``""``).
    """

    name: str
    ready: bool
    why: str = ""


def node_readiness(node: Any) -> NodeReadiness:
    """A ``V1Node`` as a :class:`NodeReadiness`."""
    conditions = (node.status.conditions if node.status else None) or []
    ready = next((c for c in conditions if c.type == "Ready"), None)
    if ready is None:
        return NodeReadiness(node.metadata.name, False, "no Ready condition reported")
    if ready.status == "True":
        return NodeReadiness(node.metadata.name, True)
    seen = f", last heartbeat {ready.last_heartbeat_time}" if ready.last_heartbeat_time else ""
    why = f"Ready={ready.status} ({ready.reason or 'no reason'}: {ready.message or ''}{seen})"
    return NodeReadiness(node.metadata.name, False, why)


def select_nodes(
    cluster: Cluster, *, names: Sequence[str], all_nodes: bool, selector: str | None
) -> list[str]:
    """The node names a run checks: ``names`` in order, then the listed ones not yet named.

    Raises:
        ClusterError: the nodes cannot be listed, or a selector matches none.
    """
    chosen = list(dict.fromkeys(names))
    if all_nodes or selector:
        what = f"list nodes{f' matching {selector!r}' if selector else ''}"
        listed = cluster.call(what, cluster.core.list_node, label_selector=selector or "")
        found = sorted(item.metadata.name for item in listed.items)
        if not found:
            raise ClusterError(f"{what} on {cluster.where}: none found")
        chosen.extend(name for name in found if name not in chosen)
    return chosen


def check_ready(cluster: Cluster, name: str) -> NodeReadiness:
    """The node's state, read before a pod is created on it.

    Raises:
        ClusterError: the node does not exist or is not Ready (one line, naming it).
    """
    try:
        node = cluster.call(f"read node {name}", cluster.core.read_node, name, node=name)
    except NotFoundError:
        raise ClusterError(f"no such node on {cluster.where}", node=name) from None
    state = node_readiness(node)
    if not state.ready:
        raise ClusterError(f"node is not Ready: {state.why}; no debug pod started", node=name)
    return state
