"""Probe traffic: packets crafted with scapy prove the Service DNAT and self-test verdicts.

The only package of ctdiag that imports scapy (in :mod:`ctdiag.probes.crafting`, and only
there). Packets are sent from the node's network namespace by a small standard-library
program run by the node's ``python3`` (:mod:`ctdiag.probes.sender`), then the node's table is
read for each probe's exact tuple (:mod:`ctdiag.probes.node_table`) and judged
(:mod:`ctdiag.probes.verdicts`). Only addresses the checked cluster or node itself reports
are probed (:mod:`ctdiag.probes.destinations`, over what its API lists or what it routes,
:mod:`ctdiag.probes.routed`), never the expectations being checked. A check calls
:func:`ctdiag.probes.run.run_probes`; the results are :mod:`ctdiag.model.probes` values.
"""
