#!/usr/bin/env python3
"""Capture real conntrack output of this kernel into golden files for the parser tests.

Run as root from the repository root::

    /work/main/.venv/bin/python tests/captures/make_captures.py          # build, capture, tear down
    /work/main/.venv/bin/python tests/captures/make_captures.py --down   # remove leftovers only

It builds three network namespaces joined by veth pairs (addresses only inside them)::

    ctdcap-client  eth0 10.123.1.2/24 fd00:123:1::2/64
        |
    ctdcap-node    to-client 10.123.1.1/24 fd00:123:1::1/64   (router: NAT, marks, zones, labels)
                   to-server 10.123.2.1/24 fd00:123:2::1/64
        |
    ctdcap-server  eth0 10.123.2.2/24 fd00:123:2::2/64

sends a fixed, bounded set of flows through the node, and captures conntrack's views of the
node's table, each command's stdout and stderr in separate files. ``MANIFEST.json`` records
every command and the flows the tests assert on. Everything it creates (namespaces, child
processes, a temporary label-map directory) is removed in ``finally``.

The helper sub-commands (``_server``, ``_hold``, ``_traffic``) run inside the namespaces.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
PREFIX = "ctdcap-"
CLIENT, NODE, SERVER = "ctdcap-client", "ctdcap-node", "ctdcap-server"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "TZ": "UTC"}
HELPER_LIFETIME = 90.0  # seconds; every background helper exits by itself after this
CMD_TIMEOUT = 20.0

ADDR = {
    "client": {"ipv4": "10.123.1.2", "ipv6": "fd00:123:1::2"},
    "node_client_side": {"ipv4": "10.123.1.1", "ipv6": "fd00:123:1::1"},
    "node_server_side": {"ipv4": "10.123.2.1", "ipv6": "fd00:123:2::1"},
    "server": {"ipv4": "10.123.2.2", "ipv6": "fd00:123:2::2"},
}
VIP = {"ipv4": "10.123.100.1", "ipv6": "fd00:123:100::1"}
BLACKHOLE = {"ipv4": "10.123.3.3", "ipv6": "fd00:123:3::3"}
FAKE_NEXTHOP = {"ipv4": "10.123.2.99", "ipv6": "fd00:123:2::99"}
FAKE_MAC = "02:00:00:00:00:99"  # static neighbour the server's NIC ignores: a silent drop
SERVICES = [  # DNAT in the node: VIP:vport -> server:bport
    {"family": f, "proto": p, "vip": VIP[f], "vport": vp, "backend": ADDR["server"][f], "bport": bp}
    for f in ("ipv4", "ipv6")
    for p, vp, bp in (("tcp", 80, 8080), ("udp", 53, 5353))
]
TCP_PORTS = (8080, 9090)
UDP_ECHO_PORTS = (5353, 6000, 6001, 6002)
UDP_SILENT_PORT = 7777
MASQ_PORT = 9090  # TCP to server:9090 leaving to-server is masqueraded
MARKS = {"tcp4_vip": 42, "tcp6_vip": 43, "udp4_vip": 7}
LABEL_MAP = "1 web\n2 masq\n3 v6svc\n"  # names with "_" failed to load here (see README)
LABEL_DIR = Path("/tmp/ctdcap-labels")  # holds xtables/connlabel.conf for the overlay on /etc
ICMP_PAYLOAD = b"ctdcap-golden-capture-payload-0123456789abcdefghijklmn"  # 56 bytes


# --------------------------------------------------------------------------- flows
#: name, phase, family, proto, target ("vip"/"server"/"blackhole"), dport or ICMP id, sport,
#: packets sent, action, then the facts conntrack should show (mark, zone, labels ...).
# fmt: off
FLOW_TABLE: list[tuple[str, str, str, str, str, int, int, int, str, dict[str, Any]]] = [
    # main phase, before the event listeners start
    ("tcp4_dnat_established", "main", "ipv4", "tcp", "vip", 80, 40080, 1, "hold",
     {"mark": MARKS["tcp4_vip"], "state": "ESTABLISHED", "assured": True}),
    ("tcp6_dnat_established", "main", "ipv6", "tcp", "vip", 80, 40081, 1, "hold",
     {"mark": MARKS["tcp6_vip"], "state": "ESTABLISHED", "assured": True, "labels": ["v6svc"]}),
    ("tcp4_masq_established", "main", "ipv4", "tcp", "server", MASQ_PORT, 40090, 1, "hold",
     {"state": "ESTABLISHED", "assured": True, "labels": ["web", "masq"]}),
    *[(f"tcp4_dnat_time_wait_{i}", "main", "ipv4", "tcp", "vip", 80, 41000 + i, 1, "tcp_close",
       {"mark": MARKS["tcp4_vip"], "state": "TIME_WAIT", "assured": True}) for i in (1, 2, 3, 4)],
    ("tcp4_masq_time_wait", "main", "ipv4", "tcp", "server", MASQ_PORT, 41010, 1, "tcp_close",
     {"state": "TIME_WAIT", "assured": True, "labels": ["web", "masq"]}),
    ("tcp6_plain_time_wait", "main", "ipv6", "tcp", "server", 8080, 41020, 1, "tcp_close",
     {"state": "TIME_WAIT", "assured": True}),
    ("tcp6_masq_time_wait", "main", "ipv6", "tcp", "server", MASQ_PORT, 41021, 1, "tcp_close",
     {"state": "TIME_WAIT", "assured": True}),
    ("tcp6_dnat_time_wait", "main", "ipv6", "tcp", "vip", 80, 41022, 1, "tcp_close",
     {"mark": MARKS["tcp6_vip"], "state": "TIME_WAIT", "assured": True, "labels": ["v6svc"]}),
    ("udp4_dnat", "main", "ipv4", "udp", "vip", 53, 42053, 2, "udp_rr",
     {"mark": MARKS["udp4_vip"]}),
    ("udp6_dnat", "main", "ipv6", "udp", "vip", 53, 42153, 2, "udp_rr", {}),
    ("udp4_zone5", "main", "ipv4", "udp", "server", 6000, 42600, 1, "udp_rr", {"zone": 5}),
    ("udp6_zone5", "main", "ipv6", "udp", "server", 6000, 42160, 1, "udp_rr", {"zone": 5}),
    ("udp4_zone_orig7", "main", "ipv4", "udp", "server", 6001, 42601, 1, "udp_rr",
     {"zone_orig": 7}),
    ("udp4_unreplied", "main", "ipv4", "udp", "server", UDP_SILENT_PORT, 42777, 2, "udp_send",
     {"unreplied": True}),
    ("udp6_unreplied", "main", "ipv6", "udp", "server", UDP_SILENT_PORT, 42177, 2, "udp_send",
     {"unreplied": True}),
    ("icmp4_echo", "main", "ipv4", "icmp", "server", 0x1C01, 0, 3, "echo",
     {"unnamed_label_bits": [5]}),
    ("icmp6_echo", "main", "ipv6", "icmpv6", "server", 0x1C02, 0, 3, "echo", {}),
    ("tcp4_half_open", "main", "ipv4", "tcp", "blackhole", 443, 43443, 1, "syn",
     {"state": "SYN_SENT", "unreplied": True, "assured": False}),
    ("tcp6_half_open", "main", "ipv6", "tcp", "blackhole", 443, 43446, 1, "syn",
     {"state": "SYN_SENT", "unreplied": True, "assured": False}),
    # SYN+RST is an impossible flag set: counted as `invalid`, never creates an entry
    ("tcp4_invalid_synrst", "main", "ipv4", "tcp", "server", 8080, 45000, 2, "invalid_tcp",
     {"listed": False}),
    # events phase, while `conntrack -E` runs
    ("ev_tcp4_dnat", "events", "ipv4", "tcp", "vip", 80, 44080, 1, "tcp_close",
     {"mark": MARKS["tcp4_vip"], "state": "TIME_WAIT", "assured": True}),
    ("ev_udp4_deleted", "events", "ipv4", "udp", "server", 6002, 44602, 1, "udp_rr",
     {"deleted": True}),
    ("ev_udp6_dnat", "events", "ipv6", "udp", "vip", 53, 44153, 1, "udp_rr", {}),
    ("ev_icmp4_echo", "events", "ipv4", "icmp", "server", 0x1C03, 0, 1, "echo",
     {"unnamed_label_bits": [5]}),
]
# fmt: on
TARGETS = {"vip": VIP, "server": ADDR["server"], "blackhole": BLACKHOLE}


def planned_flows() -> list[dict[str, Any]]:
    """Every flow the run creates and what the node's conntrack should say about it."""
    flows = []
    for name, phase, fam, proto, target, port, sport, count, action, facts in FLOW_TABLE:
        src, dst = ADDR["client"][fam], TARGETS[target][fam]
        svc = next((s for s in SERVICES if s["vip"] == dst and s["proto"] == proto), None)
        snat = proto == "tcp" and port == MASQ_PORT
        rsrc = svc["backend"] if svc else dst
        rdst = ADDR["node_server_side"][fam] if snat else src
        if proto in ("tcp", "udp"):
            orig = {"src": src, "dst": dst, "sport": sport, "dport": port}
            # masquerade keeps the source port when it is free, as it is here
            rport = svc["bport"] if svc else port
            reply = {"src": rsrc, "dst": rdst, "sport": rport, "dport": sport}
        else:
            req, rep = (8, 0) if fam == "ipv4" else (128, 129)
            orig = {"src": src, "dst": dst, "type": req, "code": 0, "id": port}
            reply = {"src": rsrc, "dst": rdst, "type": rep, "code": 0, "id": port}
        flow = {
            "name": name, "phase": phase, "family": fam, "proto": proto, "action": action,
            "count": count, "orig": orig, "reply": reply, "dnat": svc is not None, "snat": snat,
            "mark": 0, "zone": 0, "zone_orig": None, "labels": [], "unnamed_label_bits": [],
            "state": None, "unreplied": False, "assured": None, "deleted": False, "listed": True,
        }  # fmt: skip
        flows.append(flow | facts)
    return flows


def node_rules() -> list[list[str]]:
    """iptables/ip6tables/nft commands run in the node, before any traffic."""
    rules: list[str] = []
    for s in SERVICES:
        ipt = "iptables" if s["family"] == "ipv4" else "ip6tables"
        to = s["backend"] if s["family"] == "ipv4" else f"[{s['backend']}]"
        rules.append(
            f"{ipt} -w -t nat -A PREROUTING -d {s['vip']} -p {s['proto']} --dport {s['vport']}"
            f" -j DNAT --to-destination {to}:{s['bport']}"
        )
    for ipt in ("iptables", "ip6tables"):
        rules.append(
            f"{ipt} -w -t nat -A POSTROUTING -o to-server -p tcp --dport {MASQ_PORT} -j MASQUERADE"
        )
    vip4, vip6 = VIP["ipv4"], VIP["ipv6"]
    rules += [
        f"iptables -w -t mangle -A PREROUTING -d {vip4} -p tcp --dport 80"
        f" -j CONNMARK --set-mark {MARKS['tcp4_vip']}",
        f"ip6tables -w -t mangle -A PREROUTING -d {vip6} -p tcp --dport 80"
        f" -j CONNMARK --set-mark {MARKS['tcp6_vip']}",
        f"iptables -w -t mangle -A PREROUTING -d {vip4} -p udp --dport 53"
        f" -j MARK --set-mark {MARKS['udp4_vip']}",
        f"iptables -w -t mangle -A PREROUTING -d {vip4} -p udp --dport 53 -j CONNMARK --save-mark",
    ]
    for ipt in ("iptables", "ip6tables"):  # zone 5 both ways: replies must be looked up in zone 5
        rules.append(
            f"{ipt} -w -t raw -A PREROUTING -i to-client -p udp --dport 6000 -j CT --zone 5"
        )
        rules.append(
            f"{ipt} -w -t raw -A PREROUTING -i to-server -p udp --sport 6000 -j CT --zone 5"
        )
    rules.append(
        "iptables -w -t raw -A PREROUTING -i to-client -p udp --dport 6001 -j CT --zone-orig 7"
    )
    # Labels: nft accepts bit numbers, so no label map is needed to *set* them.
    s4, s6 = ADDR["server"]["ipv4"], ADDR["server"]["ipv6"]
    nft = f"""table inet ctdcap_labels {{
  chain label_flows {{
    type filter hook forward priority 0; policy accept;
    ip daddr {s4} tcp dport {MASQ_PORT} ct label set 1 ct label set 2
    ip6 daddr {s6} tcp dport 8080 ct mark {MARKS["tcp6_vip"]} ct label set 3
    ip daddr {s4} icmp type echo-request ct label set 5
  }}
}}
"""
    return [r.split() for r in rules] + [["nft", nft]]


# --------------------------------------------------------------------------- running things
def run(
    argv: list[str], *, check: bool = True, timeout: float = CMD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=timeout, check=False)
    if check and p.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def ns(name: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", name, *argv]


def ctdcap_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX)]


def teardown(procs: list[subprocess.Popen[Any]]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)  # own session: only what we started
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
    for name in ctdcap_namespaces():
        pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
        for pid in pids:  # leftovers of an earlier run, inside our own namespaces only
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        run(["ip", "netns", "del", name], check=False)


def build_topology() -> None:
    for name in (CLIENT, NODE, SERVER):
        run(["ip", "netns", "add", name])
        run(ns(name, "ip", "link", "set", "lo", "up"))
    for ns_name, peer in ((CLIENT, "to-client"), (SERVER, "to-server")):
        run(f"ip link add eth0 netns {ns_name} type veth peer name {peer} netns {NODE}".split())
    for name, dev, key in (
        (CLIENT, "eth0", "client"),
        (NODE, "to-client", "node_client_side"),
        (NODE, "to-server", "node_server_side"),
        (SERVER, "eth0", "server"),
    ):
        run(ns(name, "ip", "addr", "add", ADDR[key]["ipv4"] + "/24", "dev", dev))
        run(ns(name, "ip", "-6", "addr", "add", ADDR[key]["ipv6"] + "/64", "dev", dev, "nodad"))
        run(ns(name, "ip", "link", "set", dev, "up"))
    for name, gw in ((CLIENT, "node_client_side"), (SERVER, "node_server_side")):
        run(ns(name, "ip", "route", "add", "default", "via", ADDR[gw]["ipv4"]))
        run(ns(name, "ip", "-6", "route", "add", "default", "via", ADDR[gw]["ipv6"]))
    # Half-open target: routed to a static neighbour whose MAC the server drops silently.
    for fam, plen, ipflag in (("ipv4", "24", "-4"), ("ipv6", "64", "-6")):
        neigh = f"ip {ipflag} neigh add {FAKE_NEXTHOP[fam]} lladdr {FAKE_MAC} dev to-server"
        run(ns(NODE, *neigh.split(), "nud", "permanent"))
        net = BLACKHOLE[fam].rsplit("." if fam == "ipv4" else ":", 1)[0] + (
            ".0" if fam == "ipv4" else ":"
        )
        run(ns(NODE, "ip", ipflag, "route", "add", f"{net}/{plen}", "via", FAKE_NEXTHOP[fam]))
    for key, value in node_sysctls().items():
        run(ns(NODE, "sysctl", "-q", "-w", f"{key}={value}"))
    for rule in node_rules():
        if rule[0] == "nft":
            subprocess.run(
                ns(NODE, "nft", "-f", "-"),
                input=rule[1],
                text=True,
                env=ENV,
                check=True,
                timeout=CMD_TIMEOUT,
            )
        else:
            run(ns(NODE, *rule))


def node_sysctls() -> dict[str, str]:
    return {
        "net.ipv4.ip_forward": "1",
        "net.ipv6.conf.all.forwarding": "1",
        "net.netfilter.nf_conntrack_acct": "1",
        "net.netfilter.nf_conntrack_timestamp": "1",
    }


def start_helper(netns: str, *args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        ns(netns, PY, str(Path(__file__).resolve()), *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline() if ready else ""
    if line.strip() != "READY":
        raise RuntimeError(
            f"helper {args!r} not ready: {line!r} {p.stderr.read() if p.poll() is not None else ''}"
        )
    return p


# --------------------------------------------------------------------------- captures
class Recorder:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.captures: list[dict[str, Any]] = []

    def _entry(self, name: str, argv: list[str], netns: str, **extra: Any) -> dict[str, Any]:
        entry = {
            "name": name,
            "argv": argv,
            "namespace": netns,
            "full_argv": ns(netns, *argv),
            "env": {"LC_ALL": "C", "TZ": "UTC"},
            "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        }
        entry.update(extra)
        self.captures.append(entry)
        return entry

    def capture(
        self, name: str, argv: list[str], netns: str = NODE, *, kind: str, **extra: Any
    ) -> dict[str, Any]:
        entry = self._entry(
            name, argv, netns, kind=kind, stdout=f"{name}.stdout", stderr=f"{name}.stderr", **extra
        )
        with (
            open(self.outdir / entry["stdout"], "wb") as out,
            open(self.outdir / entry["stderr"], "wb") as err,
        ):
            p = subprocess.run(
                entry["full_argv"],
                stdout=out,
                stderr=err,
                env=ENV,
                timeout=CMD_TIMEOUT,
                check=False,
            )
        entry["exit_status"] = p.returncode
        return entry

    def capture_merged(
        self, name: str, argv: list[str], netns: str = NODE, **extra: Any
    ) -> dict[str, Any]:
        """stdout and stderr into one file, as a shell `cmd >file 2>&1` does."""
        entry = self._entry(name, argv, netns, merged=f"{name}.out", **extra)
        with open(self.outdir / entry["merged"], "wb") as out:
            p = subprocess.run(
                entry["full_argv"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ENV,
                timeout=CMD_TIMEOUT,
                check=False,
            )
        entry["exit_status"] = p.returncode
        return entry

    def start_background(
        self, name: str, argv: list[str], netns: str = NODE, **extra: Any
    ) -> tuple[dict[str, Any], subprocess.Popen[bytes]]:
        entry = self._entry(
            name, argv, netns, stdout=f"{name}.stdout", stderr=f"{name}.stderr", **extra
        )
        out = open(self.outdir / entry["stdout"], "wb")  # noqa: SIM115 - closed by the child's exit
        err = open(self.outdir / entry["stderr"], "wb")  # noqa: SIM115
        p = subprocess.Popen(
            entry["full_argv"], stdout=out, stderr=err, env=ENV, start_new_session=True
        )
        out.close()
        err.close()
        return entry, p


def capture_all(rec: Recorder, label_dir: Path) -> None:
    ct = ["conntrack"]
    rec.capture("conntrack_L", [*ct, "-L"], kind="listing", format="F1", options=[])
    rec.capture_merged(
        "conntrack_L_merged",
        ["sh", "-c", "exec conntrack -L 2>&1"],
        kind="listing_merged",
        format="F1",
        options=[],
        note="stdout+stderr to one file; trailer lands where stdio flushed",
    )
    rec.capture(
        "conntrack_L_extended",
        [*ct, "-L", "-o", "extended"],
        kind="listing",
        format="F1",
        options=["extended"],
    )
    rec.capture(
        "conntrack_L_id", [*ct, "-L", "-o", "id"], kind="listing", format="F1", options=["id"]
    )
    rec.capture(
        "conntrack_L_ktimestamp",
        [*ct, "-L", "-o", "ktimestamp"],
        kind="listing",
        format="F1",
        options=["ktimestamp"],
    )
    rec.capture(
        "conntrack_L_extended_id_ktimestamp",
        [*ct, "-L", "-o", "extended,id,ktimestamp"],
        kind="listing",
        format="F1",
        options=["extended", "id", "ktimestamp"],
    )
    rec.capture(
        "conntrack_L_ipv6",
        [*ct, "-L", "-f", "ipv6"],
        kind="listing",
        format="F1",
        options=[],
        family_filter="ipv6",
    )
    # conntrack 1.4.7 has no --labelmap; it reads /etc/xtables/connlabel.conf. Overlay our map
    # on /etc inside a private mount namespace so the host's /etc is untouched.
    overlay = (
        f"mount -t overlay overlay -o lowerdir={label_dir}:/etc /etc && exec conntrack -L -o labels"
    )
    rec.capture(
        "conntrack_L_labels",
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", overlay],
        kind="listing",
        format="F1",
        options=["labels"],
        labelmap="connlabel.conf",
    )
    rec.capture(
        "proc_net_nf_conntrack", ["cat", "/proc/net/nf_conntrack"], kind="proc_listing", format="F8"
    )
    rec.capture("conntrack_C", [*ct, "-C"], kind="count", format="F6")
    rec.capture("conntrack_S", [*ct, "-S"], kind="stats", format="F7")
    rec.capture(
        "proc_net_stat_nf_conntrack",
        ["cat", "/proc/net/stat/nf_conntrack"],
        kind="proc_stats",
        format="F9",
    )
    for key in ("count", "max", "buckets"):
        rec.capture(
            f"sysctl_nf_conntrack_{key}",
            ["cat", f"/proc/sys/net/netfilter/nf_conntrack_{key}"],
            kind="sysctl",
            format="F10",
        )


# --------------------------------------------------------------------------- main
def main_capture(outdir: Path) -> int:
    flows = planned_flows()
    procs: list[subprocess.Popen[Any]] = []
    label_dir = LABEL_DIR  # fixed path, so the recorded argv is the same on every run
    shutil.rmtree(label_dir, ignore_errors=True)
    label_dir.mkdir(mode=0o755)
    rec = Recorder(outdir)
    for old in outdir.glob("*.std*"):
        old.unlink()
    for old in outdir.glob("*.out"):
        old.unlink()
    try:
        teardown([])  # leftovers of an interrupted run
        (label_dir / "xtables").mkdir()
        (label_dir / "xtables" / "connlabel.conf").write_text(LABEL_MAP)
        (outdir / "connlabel.conf").write_text(LABEL_MAP)
        build_topology()
        server = start_helper(SERVER, "_server")
        procs.append(server)
        main = [f for f in flows if f["phase"] == "main"]
        held = [f for f in main if f["action"] == "hold"]
        hold = start_helper(CLIENT, "_hold", json.dumps(held))
        procs.append(hold)
        run(
            ns(
                CLIENT,
                PY,
                str(Path(__file__).resolve()),
                "_traffic",
                json.dumps([f for f in main if f["action"] != "hold"]),
            ),
            timeout=60,
        )
        ev_ts, p1 = rec.start_background(
            "conntrack_E_timestamp",
            ["timeout", "4", "conntrack", "-E", "-o", "timestamp"],
            kind="events",
            format="F2",
            options=["timestamp"],
            window_seconds=4,
        )
        ev_plain, p2 = rec.start_background(
            "conntrack_E",
            ["timeout", "4", "conntrack", "-E"],
            kind="events",
            format="F2",
            options=[],
            window_seconds=4,
        )
        procs += [p1, p2]
        time.sleep(0.7)  # let both subscribe before the first event
        events = [f for f in flows if f["phase"] == "events"]
        run(
            ns(CLIENT, PY, str(Path(__file__).resolve()), "_traffic", json.dumps(events)),
            timeout=60,
        )
        time.sleep(0.3)
        gone = next(f for f in events if f["deleted"])
        rec.capture(
            "conntrack_D",
            ["conntrack", "-D", "-p", "udp", "--orig-port-src", str(gone["orig"]["sport"])],
            kind="delete",
            format="F1",
            deletes_flow=gone["name"],
        )
        for entry, p in ((ev_ts, p1), (ev_plain, p2)):
            entry["exit_status"] = p.wait(timeout=15)
        capture_all(rec, label_dir)
        hold.stdin.close()  # type: ignore[union-attr]
        hold.wait(timeout=10)
        write_manifest(outdir, flows, rec)
        check_expectations(outdir, flows)
        return 0
    finally:
        teardown(procs)
        shutil.rmtree(label_dir, ignore_errors=True)


def tool_version(argv: list[str]) -> str:
    try:
        p = run(argv, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable: {e}"
    return (p.stdout or p.stderr).strip().splitlines()[0]


def write_manifest(outdir: Path, flows: list[dict[str, Any]], rec: Recorder) -> None:
    node_sysctl_values = {}
    for key in (
        "net.netfilter.nf_conntrack_acct",
        "net.netfilter.nf_conntrack_timestamp",
        "net.netfilter.nf_conntrack_udp_timeout",
        "net.netfilter.nf_conntrack_udp_timeout_stream",
        "net.netfilter.nf_conntrack_icmp_timeout",
        "net.netfilter.nf_conntrack_icmpv6_timeout",
        "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
        "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
        "net.netfilter.nf_conntrack_tcp_timeout_established",
        "net.netfilter.nf_conntrack_events",
        "net.ipv4.ip_forward",
        "net.ipv6.conf.all.forwarding",
    ):
        p = run(ns(NODE, "sysctl", "-n", key), check=False)
        node_sysctl_values[key] = p.stdout.strip() if p.returncode == 0 else None
    manifest = {
        "format_version": 1,
        "generated_by": "tests/captures/make_captures.py",
        "environment": {
            "uname_r": platform.release(),
            "conntrack_version": tool_version(["conntrack", "--version"]),
            "iptables_version": tool_version(["iptables", "--version"]),
            "nft_version": tool_version(["nft", "--version"]),
            "libnetfilter_conntrack": tool_version(
                ["dpkg-query", "-W", "-f", "${Version}", "libnetfilter-conntrack3"]
            ),
            "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "nproc": os.cpu_count(),
            "env": {"LC_ALL": "C", "TZ": "UTC"},
        },
        "topology": {
            "namespaces": {"client": CLIENT, "node": NODE, "server": SERVER},
            "captured_in": NODE,
            "links": [
                {"a": f"{CLIENT}:eth0", "b": f"{NODE}:to-client"},
                {"a": f"{NODE}:to-server", "b": f"{SERVER}:eth0"},
            ],
            "addresses": ADDR,
            "prefixes": {
                "client_link": ["10.123.1.0/24", "fd00:123:1::/64"],
                "server_link": ["10.123.2.0/24", "fd00:123:2::/64"],
            },
            "services": SERVICES,
            "masquerade": {
                "out_interface": "to-server",
                "proto": "tcp",
                "dport": MASQ_PORT,
                "to": ADDR["node_server_side"],
            },
            "marks": {
                "tcp to ipv4 VIP:80 (CONNMARK --set-mark)": MARKS["tcp4_vip"],
                "tcp to ipv6 VIP:80 (CONNMARK --set-mark)": MARKS["tcp6_vip"],
                "udp to ipv4 VIP:53 (MARK then CONNMARK --save-mark)": MARKS["udp4_vip"],
            },
            "zones": {
                "udp dport 6000 (both families, both directions)": {"zone": 5},
                "ipv4 udp dport 6001 from client": {"zone_orig": 7},
            },
            "labels": {
                "map": {n: int(b) for b, n in (line.split() for line in LABEL_MAP.splitlines())},
                "rules": {
                    "ipv4 tcp to server:9090": [1, 2],
                    "ipv6 tcp to server:8080 with ct mark 43 (the VIP flows)": [3],
                    "ipv4 icmp echo-request to server": [5],
                },
            },
            "blackhole": {"targets": BLACKHOLE, "via": FAKE_NEXTHOP, "neighbour_mac": FAKE_MAC},
            "udp_silent_port": UDP_SILENT_PORT,
            "expected_stats_at_least": {
                "invalid": sum(f["count"] for f in planned_flows() if f["action"] == "invalid_tcp")
            },
            "node_sysctls": node_sysctl_values,
            "rules": [r if r[0] != "nft" else ["nft", "-f", "-", r[1]] for r in node_rules()],
        },
        "flows": flows,
        "captures": rec.captures,
    }
    (outdir / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


def check_expectations(outdir: Path, flows: list[dict[str, Any]]) -> None:
    """Warn (stderr) about planned flows that do not appear in the plain listing."""
    text = (outdir / "conntrack_L.stdout").read_text()
    for f in flows:
        o = f["orig"]
        key = (
            f"src={o['src']} dst={o['dst']} sport={o['sport']} dport={o['dport']}"
            if "sport" in o
            else f"src={o['src']} dst={o['dst']} type={o['type']} code=0 id={o['id']}"
        )
        found = key in text
        if found != (f["listed"] and not f["deleted"]):
            print(
                f"warning: flow {f['name']} {'present' if found else 'missing'}: {key}",
                file=sys.stderr,
            )


# --------------------------------------------------------------------------- helpers in namespaces
def _family(addr: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def helper_server() -> int:
    """TCP echo on TCP_PORTS, UDP echo on UDP_ECHO_PORTS, a silent UDP port; both families."""
    deadline = time.monotonic() + HELPER_LIFETIME
    sel = selectors.DefaultSelector()
    for fam, addr in (
        (socket.AF_INET, ADDR["server"]["ipv4"]),
        (socket.AF_INET6, ADDR["server"]["ipv6"]),
    ):
        for port in TCP_PORTS:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(16)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, "listen")
        for port in (*UDP_ECHO_PORTS, UDP_SILENT_PORT):
            u = socket.socket(fam, socket.SOCK_DGRAM)
            u.bind((addr, port))
            u.setblocking(False)
            sel.register(
                u, selectors.EVENT_READ, "udp_silent" if port == UDP_SILENT_PORT else "udp"
            )
    print("READY", flush=True)
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            sock, role = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            if role == "listen":
                conn, _ = sock.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, "conn")
            elif role == "conn":
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if data:
                    sock.sendall(data)
                else:  # peer closed first: close too, so the client side ends in TIME_WAIT
                    sel.unregister(sock)
                    sock.close()
            else:
                data, peer = sock.recvfrom(4096)
                if role == "udp":
                    sock.sendto(data, peer)
    return 0


def _tcp_connect(f: dict[str, Any], timeout: float = 3.0) -> socket.socket:
    o = f["orig"]
    s = socket.socket(_family(o["dst"]), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(timeout)
    s.bind((o["src"], o["sport"]))
    s.connect((o["dst"], o["dport"]))
    return s


def helper_hold(flows_json: str) -> int:
    """Open the long-lived connections, say READY, keep them until stdin closes (bounded)."""
    socks = []
    for f in json.loads(flows_json):
        s = _tcp_connect(f)
        s.sendall(f"hello {f['name']}\n".encode())
        s.recv(4096)
        socks.append(s)
    print("READY", flush=True)
    select.select([sys.stdin], [], [], HELPER_LIFETIME)
    for s in socks:
        s.close()
    return 0


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(f: dict[str, Any]) -> None:
    o = f["orig"]
    v6 = ":" in o["dst"]
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    with socket.socket(_family(o["dst"]), socket.SOCK_RAW, proto) as s:
        s.settimeout(1.0)
        for seq in range(1, f["count"] + 1):
            header = struct.pack("!BBHHH", o["type"], 0, 0, o["id"], seq)
            if not v6:  # the kernel fills in the ICMPv6 checksum itself
                header = struct.pack(
                    "!BBHHH", o["type"], 0, _icmp_checksum(header + ICMP_PAYLOAD), o["id"], seq
                )
            s.sendto(header + ICMP_PAYLOAD, (o["dst"], 0))
            end = time.monotonic() + 1.0
            while time.monotonic() < end:  # read until our reply or the deadline
                try:
                    pkt = s.recv(2048)
                except TimeoutError:
                    break
                icmp = pkt if v6 else pkt[(pkt[0] & 0x0F) * 4 :]
                if icmp[0] == f["reply"]["type"] and struct.unpack("!H", icmp[4:6])[0] == o["id"]:
                    break


def _tcp_syn_rst(f: dict[str, Any]) -> None:
    o = f["orig"]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP) as s:
        for seq in range(f["count"]):
            hdr = struct.pack(
                "!HHIIBBHHH", o["sport"], o["dport"], 1000 + seq, 0, 5 << 4, 0x06, 1024, 0, 0
            )
            pseudo = (
                socket.inet_aton(o["src"])
                + socket.inet_aton(o["dst"])
                + struct.pack("!BBH", 0, 6, len(hdr))
            )
            hdr = hdr[:16] + struct.pack("!H", _icmp_checksum(pseudo + hdr)) + hdr[18:]
            s.sendto(hdr, (o["dst"], 0))


def helper_traffic(flows_json: str) -> int:
    for f in json.loads(flows_json):
        o, action = f["orig"], f["action"]
        if action == "tcp_close":
            s = _tcp_connect(f)
            s.sendall(f"hello {f['name']}\n".encode())
            s.recv(4096)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(3.0)
            while s.recv(4096):  # wait for the server's FIN
                pass
            s.close()
        elif action in ("udp_rr", "udp_send"):
            with socket.socket(_family(o["dst"]), socket.SOCK_DGRAM) as u:
                u.settimeout(1.0)
                u.bind((o["src"], o["sport"]))
                for i in range(f["count"]):
                    u.sendto(f"{f['name']} {i}\n".encode(), (o["dst"], o["dport"]))
                    if action == "udp_rr":
                        u.recvfrom(4096)
        elif action == "echo":
            _echo(f)
        elif action == "invalid_tcp":
            _tcp_syn_rst(f)
        elif action == "syn":
            s = socket.socket(_family(o["dst"]), socket.SOCK_STREAM)
            s.bind((o["src"], o["sport"]))
            s.settimeout(0.5)  # one SYN, maybe a retransmit; the target never answers
            with contextlib.suppress(TimeoutError, OSError):
                s.connect((o["dst"], o["dport"]))
            s.close()
        time.sleep(0.05)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "_server":
        return helper_server()
    if args and args[0] == "_hold":
        return helper_hold(args[1])
    if args and args[0] == "_traffic":
        return helper_traffic(args[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--down", action="store_true", help="only remove leftover ctdcap-* namespaces")
    ap.add_argument("--outdir", type=Path, default=HERE)
    opts = ap.parse_args(args)
    if os.geteuid() != 0:
        ap.error("must run as root")
    if opts.down:
        teardown([])
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run `finally` on SIGTERM too
    return main_capture(opts.outdir)


if __name__ == "__main__":
    sys.exit(main())
