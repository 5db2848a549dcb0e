"""The diverse benchmark table: a busy dual-stack node, as /proc or ``conntrack -L`` prints it.

What makes it hard, and real (each a thing the project's first dump lacked):

* dual stack, ~38 % IPv6: tens of thousands of distinct IPv6 addresses (clients behind
  privacy addresses in many /48s, pods in per-node /64s, servers with zero runs, a few
  link-local and IPv4-mapped ones), printed uncompressed by /proc (``2001:0db8:0000:...``)
  and compressed by ``conntrack -L`` (glibc ``inet_ntop``: ``::ffff:a.b.c.d`` dotted);
* hundreds of thousands of distinct IPv4 clients (ingress / LoadBalancer traffic DNAT'd to
  pods, some SNAT'd to the node), pods talking to Services, other pods, DNS and the internet;
* every TCP state, SCTP and DCCP states, offloaded flows (no timeout, no state), GRE with
  its /proc private part (declined by the fast path, so the reference parser is timed too);
* OVS/OVN zones (0, per-port zones 1..600, 64000/64001), marks (0, OVN marks, random
  32-bit marks), ``delta-time=`` on part of the table, a few ``secctx=``; ``use=``.

Seeded: the same arguments give the same bytes. ``--counters`` adds ``packets= bytes=``.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

TCP_STATES = (
    ("ESTABLISHED", 0.50, 432000),
    ("TIME_WAIT", 0.28, 120),
    ("SYN_SENT", 0.06, 120),
    ("SYN_RECV", 0.03, 60),
    ("CLOSE_WAIT", 0.04, 60),
    ("FIN_WAIT", 0.03, 120),
    ("LAST_ACK", 0.02, 30),
    ("CLOSE", 0.03, 10),
    ("SYN_SENT2", 0.005, 120),
    ("NONE", 0.005, 30),
)
SCTP_STATES = (
    "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
    "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT",
)  # fmt: skip
DCCP_STATES = ("REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT")
SECCTX = "system_u:object_r:unlabeled_t:s0"

#: (text in /proc, text in conntrack -L) of one address.
Address = tuple[str, str]


def _v4(n: int) -> Address:
    text = f"{n >> 24 & 255}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return text, text


def _v6(value: int) -> Address:
    """Exploded (kernel ``%pI6``) and glibc-compressed text of one IPv6 address."""
    hexed = f"{value:032x}"
    exploded = ":".join(hexed[i : i + 4] for i in range(0, 32, 4))
    address = ipaddress.IPv6Address(value)
    mapped = address.ipv4_mapped
    # Python and glibc agree (longest zero run of >= 2 groups, first on ties) except for the
    # dotted tail of mapped addresses.
    return exploded, f"::ffff:{mapped}" if mapped is not None else str(address)


class Node:
    """Address pools of one busy dual-stack node's view of its cluster and the internet."""

    def __init__(self, rng: random.Random) -> None:
        r = rng.randrange
        pods = 10 << 24 | 128 << 16  # 10.128.0.0/14, this node owns 10.128.6.0/23
        self.local_pods = [_v4(pods + (3 << 9) + 2 + i) for i in range(250)]
        self.remote_pods = [_v4(pods + r(1 << 18)) for _ in range(30000)]
        self.services = [_v4(172 << 24 | 30 << 16 | r(1, 1 << 16)) for _ in range(800)]
        self.backends = {s: rng.sample(self.remote_pods, rng.randint(1, 5)) for s in self.services}
        self.dns = [_v4(172 << 24 | 30 << 16 | 10), _v4(172 << 24 | 30 << 16 | 11)]
        self.dns_pods = rng.sample(self.remote_pods, 8)
        self.nodes = [_v4(10 << 24 | 10 + i) for i in range(120)]
        self.node_ip, self.masq = self.nodes[0], _v4(169 << 24 | 254 << 16 | 169 << 8 | 2)
        self.lb_vips = [_v4(198 << 24 | 51 << 16 | 100 << 8 | r(1, 255)) for _ in range(16)]
        self.clients = [_v4(r(1 << 24, 223 << 24)) for _ in range(600_000)]
        self.internet = [_v4(r(1 << 24, 223 << 24)) for _ in range(20000)]
        self.all_pods = self.remote_pods + self.local_pods
        self.ingress = [*self.lb_vips, self.node_ip]
        self.peers = self.remote_pods + self.nodes

        pod6 = 0xFD01_0000_0000_0003 << 64
        self.local_pods6 = [_v6(pod6 | 2 + i) for i in range(250)]
        self.remote_pods6 = [
            _v6((0xFD01_0000_0000_0000 | r(1, 120)) << 64 | r(2, 1 << 16)) for _ in range(20000)
        ]
        self.services6 = [_v6(0xFD02 << 112 | r(1, 1 << 16)) for _ in range(500)]
        self.backends6 = {
            s: rng.sample(self.remote_pods6, rng.randint(1, 5)) for s in self.services6
        }
        self.node6 = _v6(0x2001_0DB8_0000_0001 << 64 | 0x10)
        self.lb_vips6 = [_v6(0x2001_0DB8_0000_0100 << 64 | r(1, 256)) for _ in range(16)]
        # Clients: privacy addresses (no zero groups), some with zero runs, a few odd ones.
        prefixes = [(0x2000 | r(0x1000)) << 112 | r(1 << 32) << 80 for _ in range(3000)]
        self.clients6 = [_v6(rng.choice(prefixes) | r(1 << 16) << 64 | r(1, 1 << 64))
                         for _ in range(60000)]  # fmt: skip
        self.clients6 += [_v6(rng.choice(prefixes) | r(1, 1 << 16)) for _ in range(4000)]
        self.clients6 += [_v6(0xFFFF << 32 | c) for c in (r(1 << 32) for _ in range(200))]
        self.internet6 = [_v6(rng.choice(prefixes) | r(1 << 64)) for _ in range(5000)]
        self.link_local = [_v6(0xFE80 << 112 | r(1 << 64)) for _ in range(60)]
        self.all_pods6 = self.remote_pods6 + self.local_pods6
        self.ingress6 = [*self.lb_vips6, self.node6]
        self.dhcp6 = _v6(0xFF02 << 112 | 0x1_0002)


def _zone_mark(rng: random.Random) -> tuple[int, int]:
    r = rng.random()
    zone = 0 if r < 0.55 else rng.randint(1, 600) if r < 0.85 else rng.choice((64000, 64001))
    m = rng.random()
    mark = 0 if m < 0.85 else rng.choice((0x3E8, 0x20000, 0x10, 0x4000)) if m < 0.95 else (
        rng.randrange(1 << 32)
    )
    return zone, mark


class Flow:
    """One flow, rendered as /proc (:meth:`proc`) or ``conntrack -L`` (:meth:`listing`)."""

    __slots__ = ("addrs", "assured", "counters", "extra", "flag", "gre", "l3", "l4", "mark",
                 "num", "proto", "state", "timeout", "unreplied", "use", "zone")  # fmt: skip

    def proc(self) -> str:
        return self._text(0, self.l3, f" zone={self.zone}", self.use + 1, self.gre)

    def listing(self) -> str:
        return self._text(1, "", f" zone={self.zone}" if self.zone else "", self.use, "")

    def _text(self, form: int, l3: str, zone: str, use: int, gre: str) -> str:
        a = [x[form] for x in self.addrs]
        (l4o, l4r), (co, cr) = self.l4, self.counters
        head = f"{l3}{self.proto:<8} {self.num} "
        if self.timeout is not None:
            head += f"{self.timeout} "
        if self.state is not None:
            head += f"{self.state} "
        return (
            f"{head}{gre}src={a[0]} dst={a[1]} {l4o}{co}{' [UNREPLIED]' if self.unreplied else ''}"
            f" src={a[2]} dst={a[3]} {l4r}{cr}{self.flag} mark={self.mark}{self.extra[0]}{zone}"
            f"{self.extra[1]} use={use}"
        )


def _endpoints(rng: random.Random, n: Node, v6: bool, proto: str) -> tuple[Address, ...]:
    """(orig src, orig dst, reply src, reply dst) of one flow: NAT shows in the reply."""
    c = rng.choice
    w = rng.random()
    if v6:
        if w < 0.45:  # client -> LB VIP or node port, DNAT to a pod (ETP=Local: no SNAT)
            client, pod = c(n.clients6), c(n.all_pods6)
            return client, c(n.ingress6), pod, client
        if w < 0.75:
            src, svc = c(n.local_pods6), c(n.services6)
            return src, svc, c(n.backends6[svc]), src
        if w < 0.9:
            src, dst = c(n.local_pods6), c(n.remote_pods6)
            return src, dst, dst, src
        if w < 0.995 or proto != "udp":
            src, dst = c(n.local_pods6), c(n.internet6)
            return src, dst, dst, n.node6  # SNAT to the node
        src = c(n.link_local)
        return src, n.dhcp6, n.dhcp6, src
    if w < 0.5:
        client, pod = c(n.clients), c(n.all_pods)
        if rng.random() < 0.3:  # ETP=Cluster: SNAT'd to the masquerade address
            return client, c(n.ingress), pod, n.masq
        return client, c(n.ingress), pod, client
    if w < 0.75:
        src, svc = c(n.local_pods), c(n.services)
        return src, svc, c(n.backends[svc]), src
    if w < 0.88:
        src, dst = c(n.local_pods), c(n.peers)
        return src, dst, dst, src
    src, dst = c(n.local_pods), c(n.internet)
    return src, dst, dst, n.node_ip


def _flow(rng: random.Random, n: Node, counters: bool) -> Flow:
    f = Flow()
    v6 = rng.random() < 0.38
    f.l3 = "ipv6     10 " if v6 else "ipv4     2 "
    f.zone, f.mark = _zone_mark(rng)
    f.use, f.gre, f.state, f.flag = 1 if rng.random() < 0.97 else 2, "", None, ""
    sport = rng.randint(1024, 65535)
    kind = rng.random()
    if kind < 0.70:
        f.proto, f.num = "tcp", 6
        name, _, top = rng.choices(TCP_STATES, [s[1] for s in TCP_STATES])[0]
        f.state, f.timeout = name, rng.randint(0, top)
        f.unreplied = name == "SYN_SENT"
        f.assured = name not in ("SYN_SENT", "SYN_RECV", "NONE", "SYN_SENT2")
        if f.assured and rng.random() < 0.02:
            f.state = f.timeout = None  # offloaded: no timeout, no state
            f.flag = rng.choice((" [OFFLOAD]", " [HW_OFFLOAD]"))
    elif kind < 0.965:
        f.proto, f.num = "udp", 17
        f.unreplied = rng.random() < 0.3
        f.assured = not f.unreplied and rng.random() < 0.4
        f.timeout = rng.randint(0, 30 if f.unreplied else 180)
    elif kind < 0.99:
        f.proto, f.num = ("icmpv6", 58) if v6 else ("icmp", 1)
        f.unreplied, f.assured, f.timeout = rng.random() < 0.1, False, rng.randint(0, 30)
    elif kind < 0.996:
        f.proto, f.num, f.state = "sctp", 132, rng.choice(SCTP_STATES)
        f.unreplied, f.assured, f.timeout = False, f.state == "ESTABLISHED", rng.randint(0, 432000)
    elif kind < 0.9985:
        f.proto, f.num, f.state = "dccp", 33, rng.choice(DCCP_STATES)
        f.unreplied, f.assured, f.timeout = False, f.state == "OPEN", rng.randint(0, 43200)
    else:
        f.proto, f.num, f.unreplied, f.assured = "gre", 47, False, True
        f.timeout = rng.randint(0, 18000)
        f.gre = f"timeout=600, stream_timeout={rng.choice((18000, 180))} "
    f.addrs = _endpoints(rng, n, v6, f.proto)
    if f.proto == "gre":
        ko, kr = rng.randrange(1 << 16), rng.randrange(1 << 16)
        f.l4 = f"srckey={ko:#x} dstkey={kr:#x}", f"srckey={kr:#x} dstkey={ko:#x}"
    elif f.num in (1, 58):
        ident, (req, rep) = rng.randrange(1 << 16), (128, 129) if v6 else (8, 0)
        f.l4 = f"type={req} code=0 id={ident}", f"type={rep} code=0 id={ident}"
    else:
        dport = 53 if f.proto == "udp" and rng.random() < 0.5 else rng.choice(
            (443, 80, 8080, 8443, 6443, 5432, 9090, 30080, 31443, 4789, 6081, 123))
        rport = dport if rng.random() < 0.5 else rng.choice((8080, 8443, 3000, 5353))
        f.l4 = f"sport={sport} dport={dport}", f"sport={rport} dport={sport}"
    if f.assured and not f.flag:
        f.flag = " [ASSURED]"
    secctx = f" secctx={SECCTX}" if rng.random() < 0.01 else ""
    delta = f" delta-time={rng.randint(0, 86400)}" if rng.random() < 0.3 else ""
    f.extra = (secctx, delta)
    f.counters = ("", "")
    if counters:
        p1, p2 = rng.randint(1, 5000), 0 if f.unreplied else rng.randint(1, 8000)
        f.counters = (f" packets={p1} bytes={p1 * rng.randint(60, 1400)}",
                      f" packets={p2} bytes={p2 * rng.randint(52, 1500)}")  # fmt: skip
    return f


def generate(entries: int, seed: int, counters: bool, listing: bool = False) -> str:
    """The whole dump: /proc form, or ``conntrack -L`` form (same flows) with ``listing``."""
    rng = random.Random(seed)
    node = Node(rng)
    render: Callable[[Flow], str] = Flow.listing if listing else Flow.proc
    return "".join(render(_flow(rng, node, counters)) + "\n" for _ in range(entries))
