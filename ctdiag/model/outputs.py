"""Snapshots: the raw outputs collected from one node at one moment. Pure data.

Raw bytes are kept, not parsed results, so that a snapshot taken today can be analysed
again by a better parser tomorrow, and so that a bug report can carry exactly what the node
printed. Saving and loading them is :mod:`ctdiag.collect.store.snapshot_dir`
(layout: ``docs/snapshot-format.md``).
"""


from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import ctdiag
from ctdiag.errors import CollectionError, SnapshotError

_OUTPUT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class EntrySource(enum.Enum):
    """Where the flow listing (``entries`` output) came from."""

    CONNTRACK_CLI = "conntrack-cli"
    HOST_CLI = "host-conntrack-cli"
    """The host's CLI, run from a debug pod through ``chroot /host`` (not in the image)."""
    PROC = "proc"


class OutputName(enum.StrEnum):
    """Names of the outputs the collectors produce; other valid names are accepted too."""

    ENTRIES = "entries"
    ENTRIES_IPV6 = "entries_ipv6"
    CONNTRACK_VERSION = "conntrack_version"
    STATS = "stats"
    STATS_PROC = "stats_proc"
    COUNT = "count"
    MAX = "max"
    BUCKETS = "buckets"
    SYSCTL = "sysctl"
    KERNEL_LOG = "kernel_log"
    RULES_RAW = "rules_raw"
    RULES_NAT = "rules_nat"
    RULES_FILTER = "rules_filter"
    RULES6_RAW = "rules6_raw"
    RULES6_NAT = "rules6_nat"
    NFT_RULESET = "nft_ruleset"
    LINKS = "links"
    ADDRESSES = "addresses"
    ROUTES = "routes"
    ROUTES6 = "routes6"
    SLABINFO = "slabinfo"
    NETNS = "netns"
    NETNS_NAME = "netns_name"
    UPTIME = "uptime"
    UNAME = "uname"


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CommandOutput:
    """What one command (or file read) produced, shaped like ``CompletedProcess``.

    Attributes:
        name: what the output is (an :class:`OutputName` or any ``[a-z][a-z0-9_]*`` name).
        argv: the command that produced it.
        exit_status: its exit status (``-N`` for death by signal ``N``).
        stdout: raw standard output.
        stderr: raw standard error.
        started_at: when it started (aware; stored as UTC).
        duration_s: how long it ran, in seconds.
    """

    name: str
    argv: tuple[str, ...]
    exit_status: int
    stdout: bytes
    stderr: bytes
    started_at: datetime
    duration_s: float

    def __post_init__(self) -> None:
        # Store plain str so an OutputName member and the name read back compare the same way.
        object.__setattr__(self, "name", str(self.name))
        if not _OUTPUT_NAME.fullmatch(self.name):
            raise ValueError(f"output name {self.name!r} is not [a-z][a-z0-9_]* (max 64)")
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "started_at", _require_aware(self.started_at, "started_at"))
        if self.duration_s < 0:
            raise ValueError(f"duration_s must not be negative, got {self.duration_s}")

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_status == 0

    @property
    def text(self) -> str:
        """stdout decoded for the parsers; undecodable bytes become U+FFFD, never an error."""
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def error_text(self) -> str:
        """stderr decoded like :attr:`text`."""
        return self.stderr.decode("utf-8", errors="replace")

    def check(self, node: str) -> None:
        """Raise :class:`CollectionError` on ``node`` when the command failed.

        The message is ``NAME exited N: first stderr line``, with the argv.
        """
        if self.ok:
            return
        first = self.error_text.strip().splitlines()[:1]
        detail = f": {first[0]}" if first else ""
        message = f"{self.name} exited {self.exit_status}{detail}"
        raise CollectionError(message, node=node, command=self.argv)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Raw outputs from one node at one moment, plus what is needed to interpret them.

    Attributes:
        node: node name.
        kernel_release: ``uname -r`` of the node.
        conntrack_version: conntrack-tools version (``1.4.8``), ``None`` when not installed.
        collected_at: when collection started (aware; stored as UTC).
        entry_source: which producer the ``entries`` output came from.
        outputs: the outputs, names unique, in collection order.
        ctdiag_version: version of ctdiag that collected it.
    """

    node: str
    kernel_release: str
    conntrack_version: str | None
    collected_at: datetime
    entry_source: EntrySource
    outputs: tuple[CommandOutput, ...] = ()
    ctdiag_version: str = field(default=ctdiag.__version__)

    def __post_init__(self) -> None:
        if not self.node:
            raise ValueError("node name must not be empty")
        object.__setattr__(self, "collected_at", _require_aware(self.collected_at, "collected_at"))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        names = [output.name for output in self.outputs]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"output names repeated: {', '.join(repeated)}")

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the outputs, in collection order."""
        return tuple(output.name for output in self.outputs)

    def get(self, name: str) -> CommandOutput | None:
        """The output called ``name``, or ``None``."""
        wanted = str(name)
        return next((output for output in self.outputs if output.name == wanted), None)

    def text_if_ok(self, name: str) -> str:
        """stdout of output ``name`` if it exists and succeeded, else ``""`` (optional ones)."""
        output = self.get(name)
        return output.text if output is not None and output.ok else ""

    def require(self, name: str) -> CommandOutput:
        """The output called ``name``, which must exist and have succeeded.

        Raises:
            SnapshotError: the snapshot has no such output.
            CollectionError: the command exited non-zero; its first stderr line is quoted.
        """
        output = self.get(name)
        if output is None:
            raise SnapshotError(f"snapshot of {self.node} has no {str(name)!r} output")
        output.check(self.node)
        return output
