"""Write a realistic, deterministic ``/proc/net/nf_conntrack`` dump of a busy OVN node.

Usage::

    python benchmarks/gen_dump.py [--entries 1000000] [--seed 7] [--counters] [--out PATH]
                                  [--profile ovn|diverse] [--listing]

Two tables. ``--profile diverse`` is a busy dual-stack node with hundreds of thousands of
distinct addresses (see ``benchmarks/dump_diverse.py``); ``--listing`` prints it as
``conntrack -L`` does (compressed IPv6, no L3 prefix) instead of /proc. The default,
``--profile ovn``, is the project's first dump (few distinct addresses), kept byte for byte
so its figures stay comparable. What is in that one (seeded, so the same arguments give the
same bytes):

* TCP (~68 %): mostly ESTABLISHED and TIME_WAIT, a few SYN_SENT / SYN_RECV / CLOSE_WAIT /
  FIN_WAIT / LAST_ACK / CLOSE; ``[ASSURED]`` once the handshake is done, ``[UNREPLIED]``
  for SYN_SENT.
* UDP (~28 %): DNS to the cluster DNS service IPs DNAT'd to DNS pod IPs (reply source
  differs from the original destination), some of it ``[UNREPLIED]``; other UDP too.
* ICMP (~2 %), echo request/reply.
* ~7 % IPv6, printed exploded as the kernel does.
* pod CIDR 10.128.0.0/14, service CIDR 172.30.0.0/16, node IPs 10.0.0.0/24; zones 0 and
  OVN-style 64000/64001 (SNAT), marks 0 and a few OVN marks; ``use=2``.
* Counters (``packets= bytes=``) only with ``--counters``.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dump_diverse  # a sibling module, also when run as a script

DATA = Path(__file__).parent / "data"


def default_path(entries: int, profile: str, listing: bool, counters: bool) -> Path:
    """Where ``gen_dump.py`` writes (and the benchmarks look for) a generated dump."""
    kind = {"ovn": "", "diverse": "diverse_"}[profile]
    base = "conntrack_L" if listing else "nf_conntrack"
    return DATA / f"{base}_{kind}{entries}{'_counters' if counters else ''}.txt"

TCP_STATES = (
    ("ESTABLISHED", 0.55),
    ("TIME_WAIT", 0.30),
    ("SYN_SENT", 0.04),
    ("SYN_RECV", 0.01),
    ("CLOSE_WAIT", 0.03),
    ("FIN_WAIT", 0.02),
    ("LAST_ACK", 0.02),
    ("CLOSE", 0.03),
)
TCP_TIMEOUTS = {
    "ESTABLISHED": 432000,
    "TIME_WAIT": 120,
    "SYN_SENT": 120,
    "SYN_RECV": 60,
    "CLOSE_WAIT": 60,
    "FIN_WAIT": 120,
    "LAST_ACK": 30,
    "CLOSE": 10,
}


def _v4(n: int) -> str:
    return f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _v6(prefix: int, n: int) -> str:
    """Exploded IPv6 text: 8 groups of 4 lower-case hex digits (kernel %pI6 style)."""
    value = (prefix << 64) | n
    hexed = f"{value:032x}"
    return ":".join(hexed[i : i + 4] for i in range(0, 32, 4))


class Cluster:
    """Address pools of one node's view of a cluster."""

    def __init__(self, rng: random.Random) -> None:
        pod_base = 10 << 24 | 128 << 16  # 10.128.0.0/14
        self.local_pods = [_v4(pod_base + (3 << 9) + 2 + i) for i in range(220)]
        self.remote_pods = [_v4(pod_base + rng.randrange(1 << 18)) for _ in range(15000)]
        self.services = [_v4(172 << 24 | 30 << 16 | rng.randrange(1, 1 << 16)) for _ in range(600)]
        self.service_backends = {
            svc: rng.sample(self.remote_pods + self.local_pods, rng.randint(1, 4))
            for svc in self.services
        }
        self.dns_services = ["172.30.0.10", "172.30.0.11"]
        self.dns_pods = rng.sample(self.remote_pods, 6)
        self.nodes = [_v4(10 << 24 | 0 << 16 | 0 << 8 | 10 + i) for i in range(40)]
        self.node_ip = self.nodes[0]
        self.external = [_v4(rng.randrange(1 << 24, 223 << 24)) for _ in range(4000)]
        self.pod6 = [_v6(0xFD01_0000_0000_0003, 2 + i) for i in range(220)]
        self.remote6 = [
            _v6(0xFD01_0000_0000_0000 | rng.randrange(1, 64), rng.randrange(2, 1 << 12))
            for _ in range(3000)
        ]
        self.svc6 = [_v6(0xFD02_0000_0000_0000, rng.randrange(1, 1 << 16)) for _ in range(200)]
        self.svc6_backends = {s: rng.sample(self.remote6, rng.randint(1, 3)) for s in self.svc6}


def _zone_mark(rng: random.Random) -> tuple[int, int]:
    r = rng.random()
    if r < 0.80:
        return 0, 0
    if r < 0.92:
        return 64001, 0
    if r < 0.97:
        return 64000, rng.choice((0x3E8, 0x20000, 0x10))
    return rng.choice((1, 2, 5, 7)), 0


def _counters(rng: random.Random, enabled: bool, replied: bool) -> tuple[str, str]:
    if not enabled:
        return "", ""
    p1 = rng.randint(1, 5000)
    orig = f" packets={p1} bytes={p1 * rng.randint(60, 1400)}"
    p2 = rng.randint(1, 8000) if replied else 0
    reply = f" packets={p2} bytes={p2 * rng.randint(52, 1500)}"
    return orig, reply


def _line(rng: random.Random, c: Cluster, counters: bool) -> str:
    ipv6 = rng.random() < 0.07
    kind = rng.random()
    zone, mark = _zone_mark(rng)
    sport = rng.randint(32768, 60999)
    if kind < 0.68:
        proto, num = "tcp", 6
        states, weights = zip(*TCP_STATES, strict=True)
        state = rng.choices(states, weights)[0]
        timeout = rng.randint(0, TCP_TIMEOUTS[state])
        if ipv6:
            src = rng.choice(c.pod6)
            dst = rng.choice(c.svc6)
            rsrc, rdst = rng.choice(c.svc6_backends[dst]), src
        else:
            where = rng.random()
            src = rng.choice(c.local_pods)
            if where < 0.6:
                dst = rng.choice(c.services)
                rsrc, rdst = rng.choice(c.service_backends[dst]), src
            elif where < 0.85:
                dst = rng.choice(c.remote_pods)
                rsrc, rdst = dst, src
            else:
                dst = rng.choice(c.external)
                rsrc, rdst = dst, c.node_ip  # SNAT to the node IP
        dport = rng.choice((443, 80, 8080, 8443, 6443, 5432, 9090))
        rport = dport if rng.random() < 0.5 else rng.choice((8080, 8443, 3000))
        unreplied = state == "SYN_SENT"
        assured = state not in ("SYN_SENT", "SYN_RECV")
        l4o, l4r = f"sport={sport} dport={dport}", f"sport={rport} dport={sport}"
        head = f"{proto:<8} {num} {timeout} {state} "
    elif kind < 0.96:
        proto, num = "udp", 17
        if ipv6:
            src, dst = rng.choice(c.pod6), rng.choice(c.svc6)
            rsrc, rdst = rng.choice(c.svc6_backends[dst]), src
            dport = rport = 53
        elif rng.random() < 0.8:
            src, dst = rng.choice(c.local_pods), rng.choice(c.dns_services)
            rsrc, rdst = rng.choice(c.dns_pods), src
            dport, rport = 53, 5353
        else:
            src, dst = rng.choice(c.local_pods), rng.choice(c.remote_pods)
            rsrc, rdst = dst, src
            dport = rport = rng.choice((4789, 6081, 123, 8472))
        unreplied = rng.random() < 0.3
        assured = not unreplied and rng.random() < 0.4
        timeout = rng.randint(0, 30 if unreplied else 120)
        l4o, l4r = f"sport={sport} dport={dport}", f"sport={rport} dport={sport}"
        head = f"{proto:<8} {num} {timeout} "
    else:
        proto, num = ("icmpv6", 58) if ipv6 else ("icmp", 1)
        if ipv6:
            src, dst = rng.choice(c.pod6), rng.choice(c.remote6)
        else:
            src, dst = rng.choice(c.local_pods), rng.choice(c.remote_pods + c.nodes)
        rsrc, rdst = dst, src
        ident = rng.randint(0, 65535)
        req, rep = (128, 129) if ipv6 else (8, 0)
        unreplied = rng.random() < 0.1
        assured = False
        timeout = rng.randint(0, 30)
        l4o = f"type={req} code=0 id={ident}"
        l4r = f"type={rep} code=0 id={ident}"
        head = f"{proto:<8} {num} {timeout} "
    l3 = "ipv6     10 " if ipv6 else "ipv4     2 "
    corig, creply = _counters(rng, counters, not unreplied)
    return (
        f"{l3}{head}src={src} dst={dst} {l4o}{corig}{' [UNREPLIED]' if unreplied else ''} "
        f"src={rsrc} dst={rdst} {l4r}{creply}{' [ASSURED]' if assured else ''} "
        f"mark={mark} zone={zone} use=2\n"
    )


def generate(entries: int, seed: int, counters: bool) -> str:
    rng = random.Random(seed)
    cluster = Cluster(rng)
    return "".join(_line(rng, cluster, counters) for _ in range(entries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--counters", action="store_true", help="add packets=/bytes=")
    parser.add_argument("--profile", choices=("ovn", "diverse"), default="ovn")
    parser.add_argument(
        "--listing", action="store_true", help="conntrack -L text (diverse profile only)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.listing and args.profile != "diverse":
        parser.error("--listing needs --profile diverse")
    out = args.out or default_path(args.entries, args.profile, args.listing, args.counters)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.profile == "diverse":
        text = dump_diverse.generate(args.entries, args.seed, args.counters, args.listing)
    else:
        text = generate(args.entries, args.seed, args.counters)
    out.write_text(text, encoding="ascii")
    print(f"{out}: {args.entries} entries, {out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
