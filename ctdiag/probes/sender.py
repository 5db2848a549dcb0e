"""The node-side half of the probes: a standard-library program run by the node's python3.

The node needs no scapy: packets are crafted here (:mod:`ctdiag.probes.crafting`) and
shipped as argv words (exec has no stdin), base64 each, to :data:`SENDER_SOURCE`, run as
``python3 -c SENDER_SOURCE MODE ARGS...`` through any
:class:`~ctdiag.collect.runners.CommandRunner`. The source is a constant: data only ever
arrive as argv words, never inside code, and no shell is involved.

Modes (every answer is one JSON object per line on stdout):

* ``route DST...``: the source address the node's routing picks for each destination
  (a connected UDP socket's name; nothing is sent): ``{"dst": ..., "src": ...}``.
* ``send WAIT_S B64...``: send each raw IP packet with a ``SOCK_RAW``/``IPPROTO_RAW``
  socket, then listen up to ``WAIT_S`` seconds in all for replies to them (UDP: a socket
  bound and connected to the probe's ports, which also hears ICMP port unreachable; TCP: a
  raw TCP socket reading copies of incoming segments). ``{"i": N, "sent": bool,
  "error": str, "replies": [...]}``.

Exit status 0, or 2 on bad arguments; a missing ``python3`` is the runner's 127.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctdiag.collect.runners import CommandRunner
from ctdiag.model.outputs import CommandOutput

#: The program. Standard library only; Python 3.6+ (older node images); bounded in time.
SENDER_SOURCE = r"""
import base64, errno, json, select, socket, struct, sys, time

def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")

def parse(pkt):
    if pkt[0] >> 4 == 6:
        fam, proto, hl = socket.AF_INET6, pkt[6], 40
        src, dst = socket.inet_ntop(fam, pkt[8:24]), socket.inet_ntop(fam, pkt[24:40])
    else:
        fam, proto, hl = socket.AF_INET, pkt[9], (pkt[0] & 15) * 4
        src, dst = socket.inet_ntop(fam, pkt[12:16]), socket.inet_ntop(fam, pkt[16:20])
    sport, dport = struct.unpack("!HH", pkt[hl:hl + 4])
    return fam, proto, src, dst, sport, dport

def route(dsts):
    for dst in dsts:
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.connect((dst, 9))
            out({"dst": dst, "src": s.getsockname()[0]})
        except OSError as exc:
            out({"dst": dst, "error": str(exc)})
        finally:
            s.close()

def send(wait, words):
    pkts = [base64.b64decode(w) for w in words]
    info = [parse(p) for p in pkts]
    results = [{"i": i, "sent": False, "error": "", "replies": []} for i in range(len(pkts))]
    listeners = {}
    for i, (fam, proto, src, dst, sport, dport) in enumerate(info):
        if proto == 17 and wait > 0:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            try:
                s.bind((src, sport))
                s.connect((dst, dport))
                s.setblocking(False)
                listeners[s] = i
            except OSError as exc:
                s.close()
                results[i]["error"] = "cannot listen on %s:%d: %s" % (src, sport, exc)
    raw_tcp = {}
    if wait > 0:
        for fam in {f for f, p, *_ in info if p == 6}:
            s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_TCP)
            s.setblocking(False)
            raw_tcp[s] = fam
    for i, pkt in enumerate(pkts):
        fam, _, _, dst, _, _ = info[i]
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            s.sendto(pkt, (dst, 0))
            results[i]["sent"] = True
        except OSError as exc:
            if exc.errno == errno.EPERM:  # sendto on a raw socket: a netfilter DROP on the way out
                results[i]["error"] = "dropped by a netfilter rule on the way out (EPERM)"
            else:
                results[i]["error"] = "send failed: %s" % exc
        finally:
            s.close()
    deadline = time.monotonic() + wait
    socks = list(listeners) + list(raw_tcp)
    awaited = set(listeners.values()) | {i for i, x in enumerate(info) if x[1] == 6 and raw_tcp}
    while socks and any(not results[i]["replies"] for i in awaited):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select(socks, [], [], left)
        for s in ready:
            try:
                data, peer = s.recvfrom(65535)
            except OSError as exc:
                if s in listeners:
                    code = errno.errorcode.get(exc.errno, str(exc.errno))
                    what = "icmp unreachable" if exc.errno == errno.ECONNREFUSED else "error"
                    results[listeners[s]]["replies"].append("%s (%s)" % (what, code))
                    socks.remove(s)
                continue
            if s in listeners:
                heard = "udp %s:%d %dB" % (peer[0], peer[1], len(data))
                results[listeners[s]]["replies"].append(heard)
                continue
            hl = (data[0] & 15) * 4 if raw_tcp[s] == socket.AF_INET else 0
            if len(data) < hl + 14:
                continue
            sp, dp = struct.unpack("!HH", data[hl:hl + 4])
            flags = data[hl + 13]
            names = "".join(c for b, c in ((2, "S"), (16, "A"), (4, "R"), (1, "F")) if flags & b)
            for i, (fam, proto, src, dst, sport, dport) in enumerate(info):
                ours = fam == raw_tcp[s] and peer[0] == dst and (sp, dp) == (dport, sport)
                if proto == 6 and ours:
                    results[i]["replies"].append("tcp %s:%d %s" % (peer[0], sp, names))
    for s in socks + [s for s in listeners if s not in socks]:
        s.close()
    for r in results:
        out(r)

def main(argv):
    if argv[:1] == ["route"]:
        route(argv[1:])
    elif argv[:1] == ["send"] and len(argv) >= 2:
        send(min(max(float(argv[1]), 0.0), 10.0), argv[2:])
    else:
        sys.stderr.write("usage: route DST... | send WAIT_S B64...\n")
        return 2
    return 0

sys.exit(main(sys.argv[1:]))
"""

PYTHON = "python3"
#: ``python3 -c pass``: whether the node has a python3 at all (127: missing).
PYTHON_PROBE = (PYTHON, "-c", "pass")


def sender_argv(mode: str, *words: str) -> tuple[str, ...]:
    """``python3 -c SENDER_SOURCE MODE WORDS...``: the argv that runs the sender on a node."""
    return (PYTHON, "-c", SENDER_SOURCE, mode, *words)


def run_sender(
    runner: CommandRunner, name: str, mode: str, words: Sequence[str], *, timeout: float
) -> CommandOutput:
    """Run the sender in ``mode`` on the runner's node (bounded by ``timeout``)."""
    return runner.run(name, sender_argv(mode, *words), timeout=timeout)
