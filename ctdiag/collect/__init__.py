"""Collection: run a node's commands and gather their raw outputs into a Snapshot.

:mod:`ctdiag.collect.plan` decides what to run (pure, shared by every way of reaching a
node); :mod:`ctdiag.collect.runner` runs commands here or inside a network namespace;
:mod:`ctdiag.collect.collector` drives a runner through the plan, and
:mod:`ctdiag.collect.streaming` parses the flow listing while it is still being read.
"""

from ctdiag.collect.collector import NodeSample, collect_sample, collect_snapshot
from ctdiag.collect.plan import NodeCommand, parse_conntrack_version
from ctdiag.collect.runner import CommandRunner, LocalRunner, NetnsRunner, StreamingRunner

__all__ = [
    "CommandRunner",
    "LocalRunner",
    "NetnsRunner",
    "NodeCommand",
    "NodeSample",
    "StreamingRunner",
    "collect_sample",
    "collect_snapshot",
    "parse_conntrack_version",
]
