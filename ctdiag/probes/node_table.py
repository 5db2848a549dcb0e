"""Reading (and pruning) the node's conntrack table for the probes, through any runner.

Built on :mod:`ctdiag.collect.query`: filters are validated there and reach the node as
argv words only; the node's ``conntrack`` CLI answers when it has one, else ``/proc`` is
read and filtered here with the CLI's semantics. One listing per source address serves
all probes from it (a filtered ``-L`` still walks the whole table in the kernel, and a
``/proc`` read is the whole table: one read, not one per probe).
"""

from __future__ import annotations

import numpy as np

from ctdiag.collect.plan import COMMAND_TIMEOUT, VERSION_PROBE, parse_conntrack_version
from ctdiag.collect.query import (
    ConntrackQuery,
    QueryMode,
    conntrack_argv,
    entry_matches,
    parse_query,
    proc_argv,
    table_matches,
)
from ctdiag.collect.runners import MISSING_COMMAND_STATUS, CommandRunner
from ctdiag.errors import CollectionError, ParseError
from ctdiag.model.entries import ConntrackEntry
from ctdiag.model.outputs import CommandOutput
from ctdiag.model.probes import ProbeTuple
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.stats import parse_conntrack_stats, parse_proc_stat

#: ``conntrack -D`` exits 1 when nothing matched: the entry is gone already.
_NOTHING_DELETED = 1


def tuple_query(probe: ProbeTuple) -> ConntrackQuery:
    """The exact original-direction query of a probe tuple (validated)."""
    return parse_query(QueryMode.LIST, src=probe.src, dst=probe.dst, proto=probe.protocol,
                       sport=probe.sport, dport=probe.dport)  # fmt: skip


class NodeTable:
    """The node's table as the probes need it: listings, the invalid counter, deletions.

    Args:
        runner: runs commands on the node.
        timeout: seconds each command may take.
    """

    def __init__(self, runner: CommandRunner, *, timeout: float = COMMAND_TIMEOUT) -> None:
        self._runner = runner
        self._timeout = timeout
        self._version: str | None = None
        self._probed = False

    @property
    def node(self) -> str:
        return self._runner.node

    @property
    def cli_version(self) -> str | None:
        """``conntrack --version``'s number, or ``None`` without the CLI (probed once)."""
        if not self._probed:
            out = self._runner.run(VERSION_PROBE.name, VERSION_PROBE.argv, timeout=self._timeout)
            self._version = parse_conntrack_version(out.text + out.error_text)
            self._probed = True
        return self._version

    def _run(self, name: str, argv: tuple[str, ...]) -> CommandOutput:
        out = self._runner.run(name, argv, timeout=self._timeout)
        if out.exit_status != 0:
            why = out.error_text.strip().splitlines()[-1:] or [f"exit status {out.exit_status}"]
            raise CollectionError(f"probe table read failed: {why[0]}", node=self.node,
                                  command=argv)  # fmt: skip
        return out

    def entries_from(self, src: str) -> list[ConntrackEntry]:
        """Every entry whose original source is ``src`` (one listing).

        Raises:
            CollectionError: the listing failed or timed out.
        """
        query = parse_query(QueryMode.LIST, src=src)
        version = self.cli_version
        commands = conntrack_argv(query, version) if version else proc_argv(query)
        found: list[ConntrackEntry] = []
        for index, argv in enumerate(commands):
            table = parse_listing(self._run(f"probe_listing_{index + 1}", argv).stdout)
            rows = np.flatnonzero(table_matches(table, query))
            found += [table.entry(row) for row in rows.tolist()]
        return found

    def invalid_total(self) -> int | None:
        """The ``invalid`` counter summed over CPUs, or ``None`` when it is not reported.

        Raises:
            CollectionError: the statistics could not be read.
        """
        query = parse_query(QueryMode.STATS)
        version = self.cli_version
        argv = conntrack_argv(query, version)[0] if version else proc_argv(query)[0]
        out = self._run("probe_stats", argv)
        try:
            stats = (parse_conntrack_stats if version else parse_proc_stat)(out.text)
        except ParseError as exc:
            raise CollectionError(f"probe statistics unreadable: {exc}", node=self.node,
                                  command=argv) from exc  # fmt: skip
        return stats.total("invalid") if stats.complete else None

    def delete(self, probe: ProbeTuple) -> str | None:
        """Delete the entry of ``probe`` (``conntrack -D`` with its exact tuple).

        Returns:
            ``None`` when deleted or already gone; else one line saying why not.
        """
        if self.cli_version is None:
            return f"{probe}: not deleted (no conntrack CLI on {self.node}; it expires)"
        q = tuple_query(probe)
        argv = ("conntrack", "-D", "-s", str(q.src), "-d", str(q.dst), "-p", probe.protocol,
                "--sport", str(q.sport), "--dport", str(q.dport))  # fmt: skip
        try:
            out = self._runner.run("probe_delete", argv, timeout=self._timeout)
        except CollectionError as exc:
            return f"{probe}: not deleted ({exc})"
        if out.exit_status in (0, _NOTHING_DELETED):
            return None
        if out.exit_status == MISSING_COMMAND_STATUS:
            return f"{probe}: not deleted (conntrack missing)"
        return f"{probe}: not deleted (conntrack -D exited {out.exit_status})"


def find_entry(entries: list[ConntrackEntry], probe: ProbeTuple) -> ConntrackEntry | None:
    """The entry whose original tuple is exactly ``probe``'s, if any."""
    query = tuple_query(probe)
    return next((e for e in entries if entry_matches(e, query)), None)
