"""Packet generators for the pressure scenarios, run inside the client pod.

Run as ``python -m ctdiag.lab.floods {fill,invalid} ...``. They write raw IPv4 packets
(``IPPROTO_RAW``: the kernel fills in the IP checksum, id and length) because one socket
per flow would be orders of magnitude slower. Every loop is bounded in packets and time.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import struct
import sys
import time
from collections.abc import Sequence

MAX_DURATION = 300.0
MAX_FLOWS = 2_000_000
_FIRST_SPORT = 1024
_SPORTS = 65536 - _FIRST_SPORT


def _ip_header(src: str, dst: str, proto: int) -> bytes:
    # Version 4, IHL 5; DF; TTL 64. Length, id and checksum are filled in by the kernel.
    return struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 0, 0, 0x4000, 64, proto, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )  # fmt: skip


def fill(src: str, dst: str, base_port: int, flows: int, duration: float, refresh: float) -> int:
    """Send one UDP datagram per flow, ``flows`` distinct (sport, dport) pairs to ``dst``.

    Source ports cycle through 1024-65535, then the destination port moves on, so every
    packet is a new conntrack entry. After the first pass the same flows are re-sent every
    ``refresh`` seconds (keeping their 30 s UDP timeout alive) until ``duration`` runs out.
    """
    flows = min(flows, MAX_FLOWS)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    packet = bytearray(_ip_header(src, dst, socket.IPPROTO_UDP) + struct.pack("!HHHH", 0, 0, 8, 0))
    peer = (dst, 0)
    start = time.monotonic()
    deadline = start + duration
    passes = sent = dropped = 0
    while time.monotonic() < deadline:
        for index in range(flows):
            # UDP checksum 0 means "none" in IPv4, so only the ports change per packet.
            struct.pack_into("!HH", packet, 20, _FIRST_SPORT + index % _SPORTS,
                             base_port + index // _SPORTS)  # fmt: skip
            try:
                sock.sendto(packet, peer)
                sent += 1
            except OSError:  # ENOBUFS: the veth queue is full; count it, go on
                dropped += 1
            if index & 0x3FFF == 0 and time.monotonic() >= deadline:
                break
        passes += 1
        if passes == 1:
            elapsed = time.monotonic() - start
            print(f"fill: first pass {flows} flows in {elapsed:.2f} s "
                  f"({flows / max(elapsed, 1e-9):.0f}/s)", flush=True)  # fmt: skip
        time.sleep(max(0.0, min(refresh, deadline - time.monotonic())))
    print(f"fill: {passes} passes, {sent} sent, {dropped} not sent", flush=True)
    return 0


def one_pass(src: str, dst: str, base_port: int, first: int, flows: int, reverse: bool) -> int:
    """Send flows ``first .. first+flows-1`` of :func:`fill`'s numbering once, then exit.

    With ``reverse`` the packets are the flows' replies (``dst`` -> ``src``, ports swapped):
    run from the destination's namespace, they mark the node's entries as replied, and a
    further forward pass more than 2 s after creation makes them ASSURED, which early
    drop cannot evict.
    """
    flows = min(flows, MAX_FLOWS)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    ends = (dst, src) if reverse else (src, dst)
    head = _ip_header(*ends, socket.IPPROTO_UDP)
    packet = bytearray(head + struct.pack("!HHHH", 0, 0, 8, 0))
    peer = (src if reverse else dst, 0)
    start = time.monotonic()
    sent = 0
    for index in range(first, first + flows):
        sport, dport = _FIRST_SPORT + index % _SPORTS, base_port + index // _SPORTS
        struct.pack_into("!HH", packet, 20, *((dport, sport) if reverse else (sport, dport)))
        try:
            sock.sendto(packet, peer)
            sent += 1
        except OSError:  # ENOBUFS: the veth queue is full; count it, go on
            continue
    elapsed = time.monotonic() - start
    print(f"pass: {sent}/{flows} {'replies' if reverse else 'flows'} in {elapsed:.2f} s "
          f"({sent / max(elapsed, 1e-9):.0f}/s)", flush=True)  # fmt: skip
    return 0


def invalid(dst: str, dport: int, rate: float, count: int, duration: float) -> int:
    """Send up to ``count`` INVALID packets at ``rate`` per second for at most ``duration``.

    A real connection to ``dst:dport`` is opened first and held, so that the out-of-window
    half of the packets hits an ESTABLISHED entry.
    """
    conn = socket.create_connection((dst, dport), timeout=5)
    src, sport = conn.getsockname()[:2]
    from ctdiag.probes.crafting import invalid_storm_packets  # scapy: only for this flood

    packets = invalid_storm_packets(src, dst, sport, dport, 64)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    deadline = time.monotonic() + duration
    sent = 0
    batch = max(1, int(rate / 20))
    while sent < count and time.monotonic() < deadline:
        for _ in range(min(batch, count - sent)):
            sock.sendto(packets[sent % len(packets)], (dst, 0))
            sent += 1
        time.sleep(batch / rate)
    conn.close()
    print(f"invalid: {sent} packets sent on {src}:{sport} -> {dst}:{dport}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctdiag.lab.floods")
    sub = parser.add_subparsers(dest="kind", required=True)
    fill_p = sub.add_parser("fill")
    fill_p.add_argument("--flows", type=int, required=True)
    fill_p.add_argument("--base-port", type=int, default=10000)
    fill_p.add_argument("--refresh", type=float, default=15.0)
    pass_p = sub.add_parser("pass")
    pass_p.add_argument("--src", required=True)
    pass_p.add_argument("--dst", required=True)
    pass_p.add_argument("--flows", type=int, required=True)
    pass_p.add_argument("--first", type=int, default=0)
    pass_p.add_argument("--base-port", type=int, default=10000)
    pass_p.add_argument("--reverse", action="store_true")
    inv_p = sub.add_parser("invalid")
    inv_p.add_argument("--port", type=int, default=80)
    inv_p.add_argument("--rate", type=float, default=500.0)
    inv_p.add_argument("--count", type=int, default=100_000)
    fill_p.add_argument("--src", required=True)
    for p in (fill_p, inv_p):
        p.add_argument("--dst", required=True)
        p.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.kind == "pass":
        return one_pass(args.src, args.dst, args.base_port, args.first, args.flows, args.reverse)
    duration = min(args.duration, MAX_DURATION)
    if args.kind == "fill":
        return fill(args.src, args.dst, args.base_port, args.flows, duration, args.refresh)
    return invalid(args.dst, args.port, args.rate, args.count, duration)


if __name__ == "__main__":
    sys.exit(main())
