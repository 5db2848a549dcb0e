"""The pods' workloads: a tiny HTTP server and a DNS responder, run inside pod namespaces.

Run as ``python -m ctdiag.lab.servers {http,dns} ...`` by the lab (``ip netns exec``).
Standard library only; both answer with the serving pod's name or address so that a client
can tell which endpoint a Service picked.
"""

from __future__ import annotations

import argparse
import http.server
import socket
import sys
import time
from collections.abc import Sequence

from ctdiag.lab.dns_wire import DnsFormatError, answer

#: Servers stop by themselves after this long, in case a lab is left behind and forgotten.
DEFAULT_LIFETIME = 6 * 3600.0


def _http_handler(pod: str) -> type[http.server.BaseHTTPRequestHandler]:
    body = f"pod={pod}\n".encode()

    class PodHandler(http.server.BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections open, so clients can hold long-lived ESTABLISHED flows.
        protocol_version = "HTTP/1.1"
        server_version = "ctdlab"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            if self.headers.get("Connection", "").lower() == "close":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Thousands of requests would fill the log directory for nothing.
            return

    return PodHandler


def serve_http(bind: str, port: int, pod: str, lifetime: float) -> None:
    """Serve ``pod=<name>`` on every GET until ``lifetime`` seconds have passed."""
    server = http.server.ThreadingHTTPServer((bind, port), _http_handler(pod))
    server.daemon_threads = True
    server.timeout = 1.0
    deadline = time.monotonic() + lifetime
    print(f"http {pod} listening on {bind}:{port}", flush=True)
    while time.monotonic() < deadline:
        server.handle_request()
    server.server_close()


def serve_dns(bind: str, port: int, records: dict[str, str], lifetime: float) -> None:
    """Answer A queries from ``records`` (name -> IPv4) until ``lifetime`` has passed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    sock.settimeout(1.0)
    deadline = time.monotonic() + lifetime
    print(f"dns listening on {bind}:{port} with {len(records)} names", flush=True)
    while time.monotonic() < deadline:
        try:
            packet, peer = sock.recvfrom(4096)
        except TimeoutError:
            continue
        try:
            sock.sendto(answer(packet, records), peer)
        except DnsFormatError as exc:
            print(f"ignored query from {peer}: {exc}", file=sys.stderr, flush=True)
    sock.close()


def _record(text: str) -> tuple[str, str]:
    name, sep, address = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=ADDRESS, got {text!r}")
    return name.lower().rstrip("."), address


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctdiag.lab.servers")
    sub = parser.add_subparsers(dest="kind", required=True)
    http_p = sub.add_parser("http")
    http_p.add_argument("--pod", required=True)
    dns_p = sub.add_parser("dns")
    dns_p.add_argument("--record", type=_record, action="append", default=[])
    for p in (http_p, dns_p):
        p.add_argument("--bind", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME)
    args = parser.parse_args(argv)
    if args.kind == "http":
        serve_http(args.bind, args.port, args.pod, args.lifetime)
    else:
        serve_dns(args.bind, args.port, dict(args.record), args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
