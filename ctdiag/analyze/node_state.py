"""Parsed views of one node's sample, each computed once, on first use: pure, no I/O.

Checks and the report read a node through :class:`NodeState`; a missing or failed
output surfaces as :class:`~ctdiag.errors.CollectionError` (the command failed on the node)
or :class:`~ctdiag.errors.SnapshotError` (it was never collected), naming node and command.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from ctdiag.analyze.rates import CounterRates, Sample
from ctdiag.analyze.service_flows import ServiceFlows, index_service_flows, node_addresses
from ctdiag.analyze.summary import TableSummary, summarize
from ctdiag.errors import SnapshotError
from ctdiag.model.outputs import OutputName, Snapshot
from ctdiag.model.probes import ProbeReport
from ctdiag.model.samples import NodeSample
from ctdiag.model.services import ExpectedService
from ctdiag.model.table import ConntrackTable
from ctdiag.parse.kernel_log import KernelLogFindings, parse_kernel_log
from ctdiag.parse.listing import listing_text, parse_listing
from ctdiag.parse.stats import ConntrackStats, parse_stats
from ctdiag.parse.sysctl import (
    TableLimits,
    Tunable,
    Tunables,
    parse_sysctl_dump,
    parse_sysctl_int,
)


class NodeState:
    """Everything the checks ask about one node, parsed lazily from its :class:`NodeSample`."""

    def __init__(self, sample: NodeSample) -> None:
        self.sample = sample
        self._service_flows: tuple[Sequence[ExpectedService], ServiceFlows] | None = None
        #: The node's probe results when the run sends probes (``--probe``), for the report.
        self.probe_report: ProbeReport | None = None

    @property
    def node(self) -> str:
        return self.sample.node

    @property
    def snapshot(self) -> Snapshot:
        return self.sample.before

    @cached_property
    def table(self) -> ConntrackTable:
        """Every flow listed (both families), malformed lines in ``table.diagnostics``.

        The table parsed during collection when there is one (the same result), else parsed
        from the snapshot's outputs now.
        """
        if self.sample.table is not None:
            return self.sample.table
        data = listing_text(self.snapshot.require(OutputName.ENTRIES))
        if self.snapshot.get(OutputName.ENTRIES_IPV6) is not None:
            data += listing_text(self.snapshot.require(OutputName.ENTRIES_IPV6))
        return parse_listing(data)

    @cached_property
    def summary(self) -> TableSummary:
        return summarize(self.table)

    @cached_property
    def tunables(self) -> Tunables:
        return parse_sysctl_dump(self.snapshot.require(OutputName.SYSCTL).text)

    def _tunable(self, name: Tunable) -> int:
        value = self.tunables.get_int(name)
        if value is None:
            raise SnapshotError(f"{self.node}: sysctl output lacks {name}")
        return value

    @cached_property
    def limits(self) -> TableLimits:
        """count (``conntrack -C`` or ``nf_conntrack_count``), max and buckets."""
        count_output = self.snapshot.require(OutputName.COUNT)
        count = parse_sysctl_int(count_output.text, name=" ".join(count_output.argv))
        return TableLimits(
            count=count, max=self._tunable(Tunable.MAX), buckets=self._tunable(Tunable.BUCKETS)
        )

    def _stats_name(self, snapshot: Snapshot) -> str:
        stats = snapshot.get(OutputName.STATS)
        if stats is not None and stats.ok:
            return OutputName.STATS
        return OutputName.STATS_PROC

    @cached_property
    def stats(self) -> ConntrackStats:
        """Counters since boot (``conntrack -S``, else ``/proc/net/stat/nf_conntrack``)."""
        name = self._stats_name(self.snapshot)
        return parse_stats(self.snapshot.require(name).text)

    @cached_property
    def rates(self) -> CounterRates | None:
        """Per-second counter growth over the sampling window; ``None`` without a window."""
        if self.sample.after is None:
            return None
        return Sample(self.sample.before, self.sample.after).rates(self._stats_name(self.snapshot))

    @cached_property
    def kernel_log(self) -> KernelLogFindings:
        return parse_kernel_log(self.snapshot.require(OutputName.KERNEL_LOG).text)

    @cached_property
    def addresses(self) -> tuple[str, ...]:
        """The node's own addresses (``ip -o addr show``); none when it was not read."""
        return node_addresses(self.snapshot.text_if_ok(OutputName.ADDRESSES))

    def service_flows(self, services: Sequence[ExpectedService]) -> ServiceFlows:
        """Every entry towards ``services``, classified; indexed once per node.

        Each check of a Service port asks with the same sequence, so the index is reused
        (found by identity first: comparing thousands of Services per check would cost more
        than the index); another sequence indexes the table again and replaces it.
        """
        cached = self._service_flows
        if cached is not None and (cached[0] is services or cached[0] == services):
            return cached[1]
        flows = index_service_flows(self.table, services, node_ips=self.addresses)
        self._service_flows = (services, flows)
        return flows

    @property
    def indexed_service_flows(self) -> ServiceFlows | None:
        """The last index :meth:`service_flows` built (the report's DNAT table), if any."""
        return self._service_flows[1] if self._service_flows is not None else None
