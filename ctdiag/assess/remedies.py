"""Remedies the report names, each with its trade-off (the checks guide names them)."""

from __future__ import annotations

from ctdiag.model.verdict import Remedy

RAISE_MAX = Remedy(
    "raise net.netfilter.nf_conntrack_max (persist it in sysctl.d, the tuned profile on "
    "OpenShift, or kube-proxy's conntrack.maxPerCore/min), sized to memory (~300 bytes per "
    "entry) and with nf_conntrack_buckets >= max/8",
    "raising the limit alone hides the cause and lengthens hash lookups; find who fills it",
)
SHORTEN_TIMEOUTS = Remedy(
    "shorten nf_conntrack_tcp_timeout_established (86400 or less) and "
    "nf_conntrack_tcp_timeout_time_wait (e.g. 30)",
    "not below the idle time of long-lived pools (database pools), or their next packet is "
    "INVALID and the connection is reset",
)
SPREAD_LOAD = Remedy(
    "spread the busiest pods over more nodes: the limit is per node",
    "needs capacity elsewhere; anti-affinity or topology spread constraints to keep it so",
)
NODELOCAL_DNS = Remedy(
    "deploy NodeLocal DNSCache (NOTRACK for its link-local IP removes one entry per DNS "
    "query); for 5 s DNS delays use single-request-reopen or TCP for DNS",
    "one more DaemonSet to run; pods must use its address",
)
NOTRACK_TUNNELS = Remedy(
    "NOTRACK the overlay's tunnel traffic in the raw table (VXLAN udp/4789, Geneve udp/6081)",
    "untracked packets skip conntrack-based rules; only exempt the tunnel port itself",
)
LOG_INVALID = Remedy(
    "set net.netfilter.nf_conntrack_log_invalid=6 (255 for all protocols) and "
    "net.netfilter.nf_log.2=nf_log_ipv4 to see why packets are INVALID; "
    "nf_conntrack_tcp_be_liberal=1 for asymmetric routing",
    "logging costs CPU under a storm (rate-limited); be_liberal also removes kube-proxy's "
    "INVALID drop rule, letting out-of-window packets reach pods un-DNATed",
)
FIX_BUCKETS = Remedy(
    "raise the hash size (nf_conntrack_buckets, or the nf_conntrack hashsize module "
    "parameter) to at least nf_conntrack_max / 8",
    "about 8 bytes of kernel memory per bucket; resizing briefly locks the table",
)
DELETE_STALE = Remedy(
    "delete the stale entries (conntrack -D -p udp --orig-dst SERVICE_IP --reply-src "
    "OLD_POD_IP) and upgrade kube-proxy to a version with the UDP reconciler fixes "
    "(kubernetes#139629, #141371)",
    "deleting entries drops in-flight state of those flows; clients retry",
)
