"""Client programs run inside the client pod: each loop is bounded in count and in time.

Run as ``python -m ctdiag.lab.clients KIND ...`` by :mod:`ctdiag.lab.traffic` and the
scenarios. Standard library only, real sockets only (what a pod's application would do),
so the node's conntrack table sees genuine flows.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import socket
import sys
import time
from collections.abc import Sequence

from ctdiag.lab.dns_wire import DnsFormatError, build_query, parse_answer

#: Hard ceiling on any loop's duration, whatever the caller asks for.
MAX_DURATION = 600.0


def _request(keep_alive: bool) -> bytes:
    conn = "keep-alive" if keep_alive else "close"
    return f"GET / HTTP/1.1\r\nHost: lab\r\nConnection: {conn}\r\n\r\n".encode()


def _read_response(sock: socket.socket) -> bytes:
    """One response: headers, then ``Content-Length`` bytes of body (the lab's server sets it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return body


def hold(target: str, port: int, connections: int, interval: float, duration: float) -> int:
    """Keep ``connections`` HTTP/1.1 connections open, one request each per ``interval``."""
    socks = [socket.create_connection((target, port), timeout=5) for _ in range(connections)]
    deadline = time.monotonic() + duration
    rounds = 0
    while time.monotonic() < deadline:
        for sock in socks:
            sock.sendall(_request(keep_alive=True))
            _read_response(sock)
        rounds += 1
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    for sock in socks:
        sock.close()
    print(f"hold: {connections} connections, {rounds} rounds", flush=True)
    return 0


def burst(target: str, port: int, count: int, rate: float, duration: float) -> int:
    """Up to ``count`` one-shot HTTP requests (each closes, leaving TIME_WAIT) at ``rate``/s."""
    deadline = time.monotonic() + duration
    done = failed = 0
    while done + failed < count and time.monotonic() < deadline:
        try:
            with socket.create_connection((target, port), timeout=2) as sock:
                sock.sendall(_request(keep_alive=False))
                _read_response(sock)
            done += 1
        except OSError:
            failed += 1
        time.sleep(1.0 / rate if rate > 0 else 0.0)
    print(f"burst: {done} ok, {failed} failed", flush=True)
    return 0


def dns(server: str, port: int, name: str, count: int, rate: float, duration: float) -> int:
    """Up to ``count`` A queries, each from a fresh socket (a fresh conntrack entry)."""
    deadline = time.monotonic() + duration
    answered = lost = 0
    for query_id in range(count):
        if time.monotonic() >= deadline:
            break
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.sendto(build_query(query_id, name), (server, port))
            try:
                parse_answer(sock.recv(512), query_id)
                answered += 1
            except (OSError, DnsFormatError):
                lost += 1
        time.sleep(1.0 / rate if rate > 0 else 0.0)
    print(f"dns: {answered} answered, {lost} lost", flush=True)
    return 0


def steady(server: str, port: int, source_port: int, interval: float, duration: float) -> int:
    """Query ``server`` from one fixed source port every ``interval``: one long UDP flow."""
    deadline = time.monotonic() + duration
    sent = answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", source_port))
        sock.settimeout(min(interval, 1.0))
        while time.monotonic() < deadline:
            sock.sendto(build_query(sent & 0xFFFF, "whoami.lab"), (server, port))
            sent += 1
            with contextlib.suppress(OSError, DnsFormatError):
                parse_answer(sock.recv(512), (sent - 1) & 0xFFFF)
                answered += 1
            time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    print(f"steady: {sent} sent, {answered} answered", flush=True)
    return 0


def attempts(target: str, port: int, proto: str, count: int, duration: float) -> int:
    """Open ``count`` flows that expect no answer (non-blocking connects or UDP datagrams)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    socks: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, kind)
        sock.setblocking(False)
        if proto == "tcp":
            code = sock.connect_ex((target, port))
            if code not in (0, errno.EINPROGRESS):
                print(f"connect: {errno.errorcode.get(code, code)}", file=sys.stderr)
        else:
            with contextlib.suppress(OSError):
                sock.sendto(b"ping", (target, port))
        socks.append(sock)
    # Hold the sockets so the kernel keeps retransmitting SYNs until the deadline.
    time.sleep(duration)
    for sock in socks:
        sock.close()
    print(f"attempts: {count} {proto} flows to {target}:{port}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctdiag.lab.clients")
    sub = parser.add_subparsers(dest="kind", required=True)
    kinds = {name: sub.add_parser(name) for name in ("hold", "burst", "dns", "steady", "attempts")}
    for p in kinds.values():
        p.add_argument("--target", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--duration", type=float, default=30.0)
    kinds["hold"].add_argument("--connections", type=int, default=4)
    kinds["hold"].add_argument("--interval", type=float, default=2.0)
    for name in ("burst", "dns", "attempts"):
        kinds[name].add_argument("--count", type=int, default=100)
    for name in ("burst", "dns"):
        kinds[name].add_argument("--rate", type=float, default=20.0)
    kinds["dns"].add_argument("--name", default="web.default.svc.cluster.local")
    kinds["steady"].add_argument("--source-port", type=int, default=40053)
    kinds["steady"].add_argument("--interval", type=float, default=0.5)
    kinds["attempts"].add_argument("--proto", choices=("tcp", "udp"), default="tcp")
    args = parser.parse_args(argv)
    duration = min(args.duration, MAX_DURATION)
    if args.kind == "hold":
        return hold(args.target, args.port, args.connections, args.interval, duration)
    if args.kind == "burst":
        return burst(args.target, args.port, args.count, args.rate, duration)
    if args.kind == "dns":
        return dns(args.target, args.port, args.name, args.count, args.rate, duration)
    if args.kind == "steady":
        return steady(args.target, args.port, args.source_port, args.interval, duration)
    return attempts(args.target, args.port, args.proto, args.count, duration)


if __name__ == "__main__":
    sys.exit(main())
