"""Capture real F6/F7/F9/F10 outputs of this machine's kernel inside a throw-away netns.

Run as root from the repository root: ``.venv/bin/python tests/data/stats/capture.py``.
The namespace is deleted in a ``finally`` block, whatever fails. README.md beside this file
lists the commands and the versions of the last capture.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NETNS = "ctdcap-stats"
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

# A TCP exchange and a few UDP datagrams, so found/insert and the entry count move.
TRAFFIC = """
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cli = socket.create_connection(srv.getsockname()); conn, _ = srv.accept()
cli.sendall(b"ping"); conn.recv(4); conn.sendall(b"pong"); cli.recv(4)
cli.close(); conn.close(); srv.close()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in (9999, 9998, 9997):
    udp.sendto(b"x", ("127.0.0.1", port))
"""
# SYN+FIN is an impossible flag combination: conntrack counts each such packet as invalid.
INVALID = """
from scapy.layers.inet import IP, TCP
from scapy.sendrecv import send
send([IP(dst="127.0.0.1") / TCP(sport=40000 + i, dport=9, flags="SF") for i in range(5)],
     verbose=False)
"""

CAPTURES = {
    "conntrack-S.txt": ["conntrack", "-S"],
    "conntrack-C.txt": ["conntrack", "-C"],
    "proc-net-stat-nf_conntrack.txt": ["cat", "/proc/net/stat/nf_conntrack"],
    "nf_conntrack_count.txt": ["cat", "/proc/sys/net/netfilter/nf_conntrack_count"],
    "nf_conntrack_max.txt": ["cat", "/proc/sys/net/netfilter/nf_conntrack_max"],
    "nf_conntrack_buckets.txt": ["cat", "/proc/sys/net/netfilter/nf_conntrack_buckets"],
    "grep-proc-sys-net-netfilter.txt": ["grep", "-r", ".", "/proc/sys/net/netfilter/"],
    "sysctl-net-netfilter.txt": ["sysctl", "net.netfilter"],
}


def in_netns(argv: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    command = ["ip", "netns", "exec", NETNS, *argv]
    return subprocess.run(command, check=True, text=True, capture_output=capture)


def main() -> None:
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        in_netns(["ip", "link", "set", "lo", "up"])
        # A rule that needs conntrack makes the netns register its hooks; a bare raw-table
        # ACCEPT does not, with the nf_tables backend of iptables.
        in_netns(["iptables", "-t", "raw", "-A", "OUTPUT", "-j", "ACCEPT"])
        in_netns(["iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate",
                  "NEW,ESTABLISHED,RELATED,INVALID", "-j", "ACCEPT"])  # fmt: skip
        in_netns([PYTHON, "-c", TRAFFIC])
        in_netns([PYTHON, "-c", INVALID])
        for name, argv in CAPTURES.items():
            result = in_netns(argv, capture=True)
            (HERE / name).write_text(result.stdout)
        versions = {
            "uname -r": in_netns(["uname", "-r"], capture=True).stdout,
            "conntrack --version": in_netns(["conntrack", "--version"], capture=True).stdout,
            "iptables --version": in_netns(["iptables", "--version"], capture=True).stdout,
            "nproc": in_netns(["nproc"], capture=True).stdout,
        }
        (HERE / "versions.txt").write_text(
            "".join(f"{key}: {value.strip()}\n" for key, value in versions.items())
        )
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


if __name__ == "__main__":
    main()
