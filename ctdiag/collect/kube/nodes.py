"""Which nodes to check, and whether each can take a debug pod (it exists and is Ready).

A pod pinned with ``nodeName`` to a missing or NotReady node stays Pending forever, so each
node is checked before any pod is created, and a node that fails gets one line saying why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctdiag.collect.kube.access import Cluster
from ctdiag.errors import ClusterError, NotFoundError

#: What the API server accepts as a node name: an RFC 1123 subdomain.
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NODE_NAME_MAX = 253


def check_node_name(name: str) -> str:
    """``name`` if a node can have it, checked before it reaches a message or a request.

    Raises:
        ClusterError: it cannot (one line, the name shown escaped: it may hold a newline).
    """
    if len(name) > _NODE_NAME_MAX or not _NODE_NAME.fullmatch(name):
        raise ClusterError(f"{name!r} is not a node name (lowercase letters, digits, '-' and "
                           f"'.', at most {_NODE_NAME_MAX})")  # fmt: skip
    return name


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
    check_node_name(name)
    try:
        node = cluster.call(f"read node {name}", cluster.core.read_node, name, node=name)
    except NotFoundError:
        raise ClusterError(f"no such node on {cluster.where}", node=name) from None
    state = node_readiness(node)
    if not state.ready:
        raise ClusterError(f"node is not Ready: {state.why}; no debug pod started", node=name)
    return state
