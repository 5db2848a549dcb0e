"""The checks' thresholds: defaults, where each comes from, and how users override them.

Every threshold can be set in the ``[pytest]`` section of ``tox.ini`` (``ctdiag_NAME``) or
on the command line (``--NAME``, dashes for underscores); the command line wins. Each carries
its source, which failure messages quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ctdiag.errors import CtdiagError


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    """One configurable threshold.

    Attributes:
        name: the key (``occupancy_fail``); ini ``ctdiag_<name>``, option ``--<name-dashed>``.
        default: the default value.
        help: what it limits, for ``--help`` and the README.
        source: where the default comes from, quoted in messages.
        integer: True when the value is a count.
    """

    name: str
    default: float
    help: str
    source: str
    integer: bool = False


SPECS: tuple[ThresholdSpec, ...] = (
    ThresholdSpec("occupancy_warn", 0.75, "count/max at which the table occupancy warns",
                  "node-mixin alert NodeHighNumberConntrackEntriesUsed (> 0.75, node_exporter)"),
    ThresholdSpec("occupancy_fail", 0.90, "count/max at which the table occupancy fails",
                  "ctdiag default; Netdata warns at 0.90, critical at 0.95"),
    ThresholdSpec("max_per_bucket", 8.0, "nf_conntrack_max / buckets above which chains are "
                  "too long", "kernel sizing (max = 8 x buckets with explicit hashsize); "
                  "OpenShift tuned 1,048,576 / 131,072"),
    ThresholdSpec("invalid_rate_warn", 1.0, "INVALID packets per second that warn",
                  "ctdiag default (ctdiag/checks/README.md#invalid)"),
    ThresholdSpec("invalid_rate_fail", 10.0, "INVALID packets per second that fail",
                  "ctdiag default (ctdiag/checks/README.md#invalid)"),
    ThresholdSpec("unreplied_share", 0.2, "share of [UNREPLIED] entries that fails (together "
                  "with unreplied_count)", "ctdiag default (ctdiag/checks/README.md#flows)"),
    ThresholdSpec("unreplied_count", 1000, "number of [UNREPLIED] entries that fails (together "
                  "with unreplied_share)", "ctdiag default (ctdiag/checks/README.md#flows)",
                  integer=True),
    ThresholdSpec("half_open_share", 0.2, "share of SYN_SENT + SYN_RECV entries that fails "
                  "(together with half_open_count)", "ctdiag default (SYN floods, "
                  "blackholed backends)"),
    ThresholdSpec("half_open_count", 500, "number of SYN_SENT + SYN_RECV entries that fails "
                  "(together with half_open_share)", "ctdiag default", integer=True),
    ThresholdSpec("top_talker_share", 0.5, "share of the table one source address may hold",
                  "ctdiag default (one client exhausting a shared per-node table)"),
    ThresholdSpec("top_talker_min_entries", 1000, "tables smaller than this are not judged by "
                  "top_talker_share", "ctdiag default (one client is normal in a small table)",
                  integer=True),
    ThresholdSpec("kernel_log_seconds", 3600, "\"table full\" lines younger than this fail, "
                  "older ones warn", "ctdiag default", integer=True),
    ThresholdSpec("service_unreplied_count", 5, "[UNREPLIED] entries DNAT'd to one Service "
                  "endpoint above which it is blackholed (together with "
                  "service_unreplied_share)", "ctdiag default (a blackholed endpoint "
                  "never answers; one connect() is one entry, its retransmissions are not; "
                  "ctdiag/checks/README.md#services)", integer=True),
    ThresholdSpec("service_unreplied_share", 0.5, "share of one Service endpoint's entries "
                  "that are [UNREPLIED] above which it is blackholed (together with "
                  "service_unreplied_count)", "ctdiag default (ctdiag/checks/README.md#services)"),
    ThresholdSpec("evidence_limit", 20, "entries shown as evidence per check",
                  "ctdiag default", integer=True),
)  # fmt: skip

SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Resolved thresholds (defaults unless overridden)."""

    occupancy_warn: float = 0.75
    occupancy_fail: float = 0.90
    max_per_bucket: float = 8.0
    invalid_rate_warn: float = 1.0
    invalid_rate_fail: float = 10.0
    unreplied_share: float = 0.2
    unreplied_count: int = 1000
    half_open_share: float = 0.2
    half_open_count: int = 500
    top_talker_share: float = 0.5
    top_talker_min_entries: int = 1000
    kernel_log_seconds: int = 3600
    service_unreplied_count: int = 5
    service_unreplied_share: float = 0.5
    evidence_limit: int = 20

    def __post_init__(self) -> None:
        if not 0 < self.occupancy_warn <= self.occupancy_fail:
            raise CtdiagError(
                f"thresholds: need 0 < occupancy_warn ({self.occupancy_warn:g}) <= "
                f"occupancy_fail ({self.occupancy_fail:g})"
            )
        if not 0 <= self.invalid_rate_warn <= self.invalid_rate_fail:
            raise CtdiagError(
                f"thresholds: need 0 <= invalid_rate_warn ({self.invalid_rate_warn:g}) <= "
                f"invalid_rate_fail ({self.invalid_rate_fail:g})"
            )

    def source(self, name: str) -> str:
        """Where the value of ``name`` comes from: its documented source, or "set by you"."""
        spec = SPEC_BY_NAME[name]
        if getattr(self, name) != spec.default:
            return f"set for this run (default {spec.default:g}: {spec.source})"
        return spec.source

    def items(self) -> list[tuple[str, float]]:
        return [(item.name, getattr(self, item.name)) for item in fields(self)]


def _convert(spec: ThresholdSpec, text: str, origin: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CtdiagError(f"{origin}: {spec.name} must be a number, got {text!r}") from None
    if value < 0 or value != value:
        raise CtdiagError(f"{origin}: {spec.name} must be >= 0, got {text!r}")
    if spec.integer:
        if value != int(value):
            raise CtdiagError(f"{origin}: {spec.name} must be a whole number, got {text!r}")
        return int(value)
    return value


def resolve(ini: Mapping[str, str], cli: Mapping[str, str | None]) -> Thresholds:
    """Thresholds from ini values and command-line values (the command line wins).

    Raises:
        CtdiagError: a value that is not a non-negative number, or inconsistent pairs.
    """
    values: dict[str, float] = {}
    for spec in SPECS:
        given_cli, given_ini = cli.get(spec.name), ini.get(spec.name)
        if given_cli is not None:
            values[spec.name] = _convert(spec, given_cli, f"--{spec.name.replace('_', '-')}")
        elif given_ini:
            values[spec.name] = _convert(spec, given_ini, f"ini ctdiag_{spec.name}")
    return Thresholds(**values)  # type: ignore[arg-type]
