"""Probe traffic: packets crafted with scapy prove the Service DNAT and self-test verdicts.

The only package of ctdiag that imports scapy (in :mod:`ctdiag.probes.crafting`). Packets
are sent from the node's network namespace by a small standard-library program run by the
node's ``python3`` (:mod:`ctdiag.probes.sender`), then the node's table is read for each
probe's exact tuple (:mod:`ctdiag.probes.node_table`) and judged
(:mod:`ctdiag.probes.verdicts`). A check calls :func:`run_probes`.
"""

from __future__ import annotations

from ctdiag.probes.model import (
    CraftedProbe,
    ProbeKind,
    ProbeLevel,
    ProbeReport,
    ProbeResult,
    ProbeTargetError,
    ProbeTuple,
)
from ctdiag.probes.run import ProbeOptions, run_probes
from ctdiag.probes.targets import ProbeScope

__all__ = [
    "CraftedProbe",
    "ProbeKind",
    "ProbeLevel",
    "ProbeOptions",
    "ProbeReport",
    "ProbeResult",
    "ProbeScope",
    "ProbeTargetError",
    "ProbeTuple",
    "run_probes",
]
