"""Reference line parser: every example line of conntrack-formats.md, edge cases, errors."""

from __future__ import annotations

import pytest

from ctdiag.errors import ParseError
from ctdiag.model.entries import EventType, Family, FlowTuple
from ctdiag.parse.entries import is_blank_line, parse_entry_line, parse_event_line
from ctdiag.parse.tokens import FEW_BRACKETS, SHORT_LINE
from ctdiag.parse.values import QUOTE_LIMIT, normalize_address

# --- section 12, conntrack -L -------------------------------------------------------------

L_DNAT = (
    "tcp      6 431999 ESTABLISHED src=203.0.113.50 dst=198.51.100.10 sport=51234 dport=443 "
    "src=10.0.0.21 dst=203.0.113.50 sport=8443 dport=51234 [ASSURED] mark=0 use=1"
)
L_UDP = (
    "udp      17 28 src=10.0.0.5 dst=192.0.2.53 sport=40312 dport=53 [UNREPLIED] "
    "src=192.0.2.53 dst=10.0.0.5 sport=53 dport=40312 mark=0 use=1"
)
L_ICMP = (
    "icmp     1 29 src=10.0.0.5 dst=192.0.2.1 type=8 code=0 id=3110 "
    "src=192.0.2.1 dst=10.0.0.5 type=0 code=0 id=3110 mark=0 use=1"
)
L_V6 = (
    "tcp      6 431985 ESTABLISHED src=2001:db8::5 dst=2001:db8::1 sport=49152 dport=22 "
    "src=2001:db8::1 dst=2001:db8::5 sport=22 dport=49152 [ASSURED] mark=0 use=1"
)
L_GRE = (
    "gre      47 179 src=192.0.2.10 dst=198.51.100.20 srckey=0x0 dstkey=0x0 "
    "src=198.51.100.20 dst=192.0.2.10 srckey=0x0 dstkey=0x0 [ASSURED] mark=0 use=1"
)
L_SCTP = (
    "sctp     132 210 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=36412 dport=36412 "
    "src=10.0.0.2 dst=10.0.0.1 sport=36412 dport=36412 [ASSURED] mark=0 use=1"
)
L_ZONE = (
    "udp      17 25 src=172.16.0.2 dst=8.8.8.8 sport=5353 dport=53 "
    "src=8.8.8.8 dst=172.16.0.2 sport=53 dport=5353 mark=0 zone=5 use=1"
)
L_ZONE_ORIG = (
    "udp      17 25 src=172.16.0.2 dst=8.8.8.8 sport=5353 dport=53 zone-orig=7 "
    "src=8.8.8.8 dst=172.16.0.2 sport=53 dport=5353 mark=0 use=1"
)
L_COUNTERS = (
    "tcp      6 299 ESTABLISHED src=10.1.1.2 dst=10.1.1.3 sport=34567 dport=80 packets=12 "
    "bytes=1840 src=10.1.1.3 dst=10.1.1.2 sport=80 dport=34567 packets=10 bytes=10420 "
    "[ASSURED] mark=0 use=1"
)
L_SECCTX = (
    "tcp      6 431999 ESTABLISHED src=10.0.2.2 dst=10.0.2.15 sport=58008 dport=22 "
    "src=10.0.2.15 dst=10.0.2.2 sport=22 dport=58008 [ASSURED] mark=0 "
    "secctx=system_u:object_r:unlabeled_t:s0 use=1"
)
L_OFFLOAD = (
    "tcp      6 src=192.168.1.100 dst=93.184.216.34 sport=50512 dport=443 "
    "src=93.184.216.34 dst=203.0.113.7 sport=443 dport=50512 [OFFLOAD] mark=0 use=2"
)
L_LABELS = (
    "tcp      6 431999 ESTABLISHED src=10.0.0.9 dst=10.0.0.1 sport=40000 dport=80 "
    "src=10.0.0.1 dst=10.0.0.9 sport=80 dport=40000 [ASSURED] mark=42 use=1 labels=trusted,web"
)
L_KTIME = (
    "tcp      6 431990 ESTABLISHED src=10.0.0.9 dst=192.0.2.21 sport=40001 dport=21 "
    "src=192.0.2.21 dst=10.0.0.9 sport=21 dport=40001 [ASSURED] mark=0 delta-time=125 "
    "[start=Tue Mar  4 10:12:01 2025] helper=ftp use=1 id=3523123411"
)
L_EXTENDED = (
    "ipv6     10 icmpv6   58 29 src=2001:db8::5 dst=2001:db8::1 type=128 code=0 id=4711 "
    "src=2001:db8::1 dst=2001:db8::5 type=129 code=0 id=4711 mark=0 use=1"
)
F1_EXAMPLES = [
    L_DNAT, L_UDP, L_ICMP, L_V6, L_GRE, L_SCTP, L_ZONE, L_ZONE_ORIG, L_COUNTERS, L_SECCTX,
    L_OFFLOAD, L_LABELS, L_KTIME,
]  # fmt: skip

# --- section 12, /proc/net/nf_conntrack -------------------------------------------------------

P_SELINUX = (
    "ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.2.2 dst=10.0.2.15 sport=58008 dport=22 "
    "src=10.0.2.15 dst=10.0.2.2 sport=22 dport=58008 [ASSURED] mark=0 "
    "secctx=system_u:object_r:unlabeled_t:s0 zone=0 use=2"
)
P_DHCP = (
    "ipv4     2 udp      17 9 src=0.0.0.0 dst=255.255.255.255 sport=68 dport=67 [UNREPLIED] "
    "src=255.255.255.255 dst=0.0.0.0 sport=67 dport=68 mark=0 zone=0 use=2"
)
P_V6 = (
    "ipv6     10 tcp      6 431985 ESTABLISHED src=2001:0db8:0000:0000:0000:0000:0000:0005 "
    "dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=49152 dport=22 "
    "src=2001:0db8:0000:0000:0000:0000:0000:0001 dst=2001:0db8:0000:0000:0000:0000:0000:0005 "
    "sport=22 dport=49152 [ASSURED] mark=0 zone=0 use=2"
)
P_GRE = (
    "ipv4     2 gre      47 17999 timeout=600, stream_timeout=18000 src=10.0.0.7 "
    "dst=203.0.113.9 srckey=0x4000 dstkey=0x9d2 src=203.0.113.9 dst=10.0.0.7 srckey=0x9d2 "
    "dstkey=0x4000 [ASSURED] mark=0 zone=0 use=2"
)
P_HW = (
    "ipv4     2 tcp      6 src=192.168.100.101 dst=104.20.23.154 sport=35058 dport=443 "
    "packets=3 bytes=123 src=104.20.23.154 dst=100.64.12.34 sport=443 dport=35058 packets=4 "
    "bytes=567 [HW_OFFLOAD] mark=0 zone=0 use=3"
)
P_DELTA = (
    "ipv4     2 tcp      6 117 TIME_WAIT src=10.45.4.124 dst=10.45.8.10 sport=36903 "
    "dport=8080 src=10.45.8.10 dst=10.45.4.124 sport=8080 dport=36903 [ASSURED] mark=0 "
    "zone=0 delta-time=63 use=2"
)
F8_EXAMPLES = [P_SELINUX, P_DHCP, P_V6, P_GRE, P_HW, P_DELTA]

# --- section 12, conntrack -E -------------------------------------------------------------------

E_NEW = (
    "    [NEW] tcp      6 120 SYN_SENT src=192.168.2.100 dst=66.102.9.104 sport=33379 "
    "dport=80 [UNREPLIED] src=66.102.9.104 dst=192.168.2.100 sport=80 dport=33379"
)
E_UPD1 = (
    " [UPDATE] tcp      6 60 SYN_RECV src=192.168.2.100 dst=66.102.9.104 sport=33379 dport=80 "
    "src=66.102.9.104 dst=192.168.2.100 sport=80 dport=33379"
)
E_UPD2 = (
    " [UPDATE] tcp      6 432000 ESTABLISHED src=192.168.2.100 dst=66.102.9.104 sport=33379 "
    "dport=80 src=66.102.9.104 dst=192.168.2.100 sport=80 dport=33379 [ASSURED]"
)
E_DESTROY = (
    "[DESTROY] tcp      6 src=192.168.2.100 dst=66.102.9.104 sport=33379 dport=80 packets=11 "
    "bytes=1523 src=66.102.9.104 dst=192.168.2.100 sport=80 dport=33379 packets=9 bytes=8120 "
    "[ASSURED]"
)
E_USERSPACE = (
    "[DESTROY] tcp      6 431900 ESTABLISHED src=10.0.0.9 dst=10.0.0.1 sport=40000 dport=80 "
    "src=10.0.0.1 dst=10.0.0.9 sport=80 dport=40000 [ASSURED] mark=42 [USERSPACE] "
    "portid=5146 progname=conntrack"
)
E_STAMP = (
    "[1738934112.123456]\t    [NEW] udp      17 30 src=10.0.0.5 dst=192.0.2.53 sport=40312 "
    "dport=53 [UNREPLIED] src=192.0.2.53 dst=10.0.0.5 sport=53 dport=40312"
)
EVENT_EXAMPLES = [E_NEW, E_UPD1, E_UPD2, E_DESTROY, E_USERSPACE, E_STAMP]


def test_dnat_line() -> None:
    e = parse_entry_line(L_DNAT)
    assert (e.family, e.proto, e.protonum, e.timeout, e.state) == (
        Family.IPV4, "tcp", 6, 431999, "ESTABLISHED"
    )  # fmt: skip
    assert e.orig == FlowTuple("203.0.113.50", "198.51.100.10", sport=51234, dport=443)
    assert e.reply == FlowTuple("10.0.0.21", "203.0.113.50", sport=8443, dport=51234)
    assert e.flags == ("ASSURED",)
    assert (e.mark, e.use, e.zone, e.id, e.secctx) == (0, 1, 0, None, None)
    assert e.dnat and not e.snat
    assert e.assured and not e.unreplied


def test_udp_unreplied() -> None:
    e = parse_entry_line(L_UDP)
    assert (e.proto, e.protonum, e.timeout, e.state) == ("udp", 17, 28, None)
    assert e.flags == ("UNREPLIED",) and e.unreplied
    assert e.orig == FlowTuple("10.0.0.5", "192.0.2.53", sport=40312, dport=53)
    assert e.reply == FlowTuple("192.0.2.53", "10.0.0.5", sport=53, dport=40312)
    assert not e.dnat and not e.snat


def test_icmp() -> None:
    e = parse_entry_line(L_ICMP)
    assert (e.proto, e.protonum, e.timeout) == ("icmp", 1, 29)
    assert e.orig == FlowTuple("10.0.0.5", "192.0.2.1", type=8, code=0, id=3110)
    assert e.reply == FlowTuple("192.0.2.1", "10.0.0.5", type=0, code=0, id=3110)
    assert e.flags == () and e.use == 1


def test_ipv6_compressed() -> None:
    e = parse_entry_line(L_V6)
    assert e.family is Family.IPV6
    assert (e.orig.src, e.orig.dst, e.reply.src, e.reply.dst) == (
        "2001:db8::5", "2001:db8::1", "2001:db8::1", "2001:db8::5"
    )  # fmt: skip
    assert (e.orig.sport, e.orig.dport, e.timeout) == (49152, 22, 431985)


def test_gre_keys_are_hex() -> None:
    e = parse_entry_line(L_GRE)
    assert (e.proto, e.protonum, e.timeout, e.state) == ("gre", 47, 179, None)
    assert e.orig == FlowTuple("192.0.2.10", "198.51.100.20", srckey=0, dstkey=0)
    assert e.gre_timeout is None


def test_sctp_state() -> None:
    e = parse_entry_line(L_SCTP)
    assert (e.proto, e.protonum, e.timeout, e.state) == ("sctp", 132, 210, "ESTABLISHED")
    assert e.orig.sport == e.orig.dport == e.reply.sport == 36412


def test_zones() -> None:
    e = parse_entry_line(L_ZONE)
    assert e.zone == 5 and e.orig.zone is None and e.reply.zone is None
    d = parse_entry_line(L_ZONE_ORIG)
    assert d.zone == 0 and d.orig.zone == 7 and d.reply.zone is None
    assert d.reply == FlowTuple("8.8.8.8", "172.16.0.2", sport=53, dport=5353)


def test_counters() -> None:
    e = parse_entry_line(L_COUNTERS)
    assert (e.orig.packets, e.orig.bytes, e.reply.packets, e.reply.bytes) == (12, 1840, 10, 10420)
    assert e.reply.sport == 80 and e.flags == ("ASSURED",)


def test_secctx() -> None:
    e = parse_entry_line(L_SECCTX)
    assert e.secctx == "system_u:object_r:unlabeled_t:s0" and e.use == 1


def test_offload_has_no_timeout_or_state() -> None:
    e = parse_entry_line(L_OFFLOAD)
    assert (e.timeout, e.state, e.flags, e.use) == (None, None, ("OFFLOAD",), 2)
    assert e.snat and not e.dnat


def test_labels_and_mark() -> None:
    e = parse_entry_line(L_LABELS)
    assert e.labels == ("trusted", "web") and e.mark == 42 and e.use == 1


def test_ktimestamp_helper_id() -> None:
    e = parse_entry_line(L_KTIME)
    assert e.delta_time == 125
    assert e.start == "Tue Mar  4 10:12:01 2025" and e.stop is None
    assert (e.helper, e.use, e.id) == ("ftp", 1, 3523123411)
    assert e.extra == ()


def test_extended_icmpv6() -> None:
    e = parse_entry_line(L_EXTENDED)
    assert (e.family, e.proto, e.protonum, e.timeout) == (Family.IPV6, "icmpv6", 58, 29)
    assert e.orig == FlowTuple("2001:db8::5", "2001:db8::1", type=128, code=0, id=4711)
    assert e.reply == FlowTuple("2001:db8::1", "2001:db8::5", type=129, code=0, id=4711)


def test_proc_selinux() -> None:
    e = parse_entry_line(P_SELINUX)
    assert e.family is Family.IPV4 and e.secctx == "system_u:object_r:unlabeled_t:s0"
    assert (e.zone, e.use, e.mark) == (0, 2, 0)


def test_proc_dhcp() -> None:
    e = parse_entry_line(P_DHCP)
    assert e.orig == FlowTuple("0.0.0.0", "255.255.255.255", sport=68, dport=67)
    assert e.flags == ("UNREPLIED",) and e.timeout == 9


def test_proc_ipv6_exploded_is_normalised() -> None:
    e = parse_entry_line(P_V6)
    assert e == parse_entry_line(L_V6.replace("use=1", "zone=0 use=2"))
    assert e.orig.src == "2001:db8::5" and e.reply.src == "2001:db8::1"


def test_proc_gre_private_part() -> None:
    e = parse_entry_line(P_GRE)
    assert (e.timeout, e.gre_timeout, e.gre_stream_timeout) == (17999, 600, 18000)
    assert e.orig == FlowTuple("10.0.0.7", "203.0.113.9", srckey=0x4000, dstkey=0x9D2)
    assert e.reply == FlowTuple("203.0.113.9", "10.0.0.7", srckey=0x9D2, dstkey=0x4000)


def test_proc_hw_offload() -> None:
    e = parse_entry_line(P_HW)
    assert (e.timeout, e.state, e.flags, e.use) == (None, None, ("HW_OFFLOAD",), 3)
    assert (e.orig.packets, e.orig.bytes, e.reply.packets, e.reply.bytes) == (3, 123, 4, 567)
    assert e.reply.dst == "100.64.12.34" and e.snat


def test_proc_delta_time() -> None:
    e = parse_entry_line(P_DELTA)
    assert (e.timeout, e.state, e.delta_time, e.use) == (117, "TIME_WAIT", 63, 2)


def test_event_new_and_updates() -> None:
    new = parse_event_line(E_NEW)
    assert new.kind is EventType.NEW and new.timestamp is None and new.portid is None
    assert (new.entry.timeout, new.entry.state) == (120, "SYN_SENT")
    assert new.entry.flags == ("UNREPLIED",)
    assert new.entry.use is None and new.entry.mark is None
    upd = parse_event_line(E_UPD1)
    assert upd.kind is EventType.UPDATE and upd.entry.state == "SYN_RECV"
    assert parse_event_line(E_UPD2).entry.flags == ("ASSURED",)


def test_event_destroy() -> None:
    d = parse_event_line(E_DESTROY)
    assert d.kind is EventType.DESTROY
    assert (d.entry.timeout, d.entry.state) == (None, None)
    assert (d.entry.orig.packets, d.entry.reply.bytes) == (11, 8120)


def test_event_userspace_suffix() -> None:
    ev = parse_event_line(E_USERSPACE)
    assert (ev.kind, ev.portid, ev.progname) == (EventType.DESTROY, 5146, "conntrack")
    assert ev.entry.flags == ("ASSURED", "USERSPACE") and ev.entry.mark == 42
    assert ev.entry.timeout == 431900 and ev.entry.extra == ()


def test_event_timestamp_prefix() -> None:
    ev = parse_event_line(E_STAMP)
    assert ev.timestamp == pytest.approx(1738934112.123456, abs=1e-7)
    assert ev.kind is EventType.NEW and ev.entry.proto == "udp"


def test_event_old_padded_timestamp_and_progname_with_spaces() -> None:
    suffix = E_USERSPACE.replace("progname=conntrack", "progname=my  tool x")
    line = "[1366026111.1234  ]\t" + suffix
    ev = parse_event_line(line)
    assert ev.timestamp == pytest.approx(1366026111.1234)
    assert ev.progname == "my  tool x" and ev.portid == 5146


def test_untagged_event_line() -> None:
    ev = parse_event_line(E_NEW.replace("    [NEW] ", ""))
    assert ev.kind is None and ev.entry.timeout == 120


def test_event_line_rejected_by_entry_parser() -> None:
    with pytest.raises(ParseError, match="event line"):
        parse_entry_line(E_NEW, 4)


# --- opaque values, unknown tokens, odd but valid lines ---------------------------------------

BASE = (
    "tcp      6 100 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 "
    "src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=0"
)


def test_secctx_with_spaces_and_parentheses() -> None:
    e = parse_entry_line(BASE + " secctx=docker-default  (enforce) zone=3 use=1")
    assert e.secctx == "docker-default  (enforce)" and e.zone == 3 and e.use == 1


def test_helper_with_dot() -> None:
    e = parse_entry_line(BASE + " helper=Q.931 use=1")
    assert e.helper == "Q.931"


def test_unknown_tokens_kept_in_order() -> None:
    e = parse_entry_line(
        "udp      17 25 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 newthing=x "
        "src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [FUTURE] mark=0 brandnew=7 use=1 [LATE]"
    )
    assert e.extra == ("newthing=x", "[FUTURE]", "brandnew=7", "[LATE]")
    assert e.flags == () and e.use == 1 and e.mark == 0


def test_bare_labels_is_empty_tuple() -> None:
    assert parse_entry_line(BASE + " use=1 labels").labels == ()
    assert parse_entry_line(BASE + " use=1").labels is None


def test_old_kernel_secmark_and_stop() -> None:
    e = parse_entry_line(BASE + " secmark=7 [start=Tue Mar  4 10:12:01 2025] "
                         "[stop=Tue Mar  4 10:14:06 2025] use=1")  # fmt: skip
    assert e.secmark == 7 and e.secctx is None
    assert e.stop == "Tue Mar  4 10:14:06 2025"


def test_negative_proc_timeout_of_old_kernels() -> None:
    e = parse_entry_line(P_DELTA.replace(" 117 ", " -3 "))
    assert e.timeout == -3


def test_unknown_protocol_without_l4_part() -> None:
    e = parse_entry_line(
        "ipv4     2 unknown  47 599 src=10.0.0.7 dst=10.0.0.8 src=10.0.0.8 dst=10.0.0.7 "
        "mark=0 zone=0 use=2"
    )
    assert (e.proto, e.protonum, e.timeout) == ("unknown", 47, 599)
    assert e.orig == FlowTuple("10.0.0.7", "10.0.0.8") and e.orig.srckey is None
    u = parse_entry_line("unknown  99 600 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1 use=1")
    assert (u.proto, u.protonum, u.timeout) == ("unknown", 99, 600)


def test_ipv4_mapped_and_crlf_and_tabs() -> None:
    mapped = "0000:0000:0000:0000:0000:ffff:c000:0201"
    line = (f"ipv6     10 udp      17 30 src={mapped} dst=::1 sport=1 dport=2\tsrc=::1 "
            f"dst={mapped} sport=2 dport=1 mark=0 zone=0 use=2\r\n")  # fmt: skip
    e = parse_entry_line(line)
    assert e.orig.src == "::ffff:192.0.2.1" and e.reply.src == "::1" and e.use == 2


def test_uppercase_unknown_state_accepted() -> None:
    assert parse_entry_line(BASE.replace("ESTABLISHED", "NEW_STATE")).state == "NEW_STATE"


def test_normalize_address() -> None:
    assert normalize_address("2001:0DB8:0:0::1") == "2001:db8::1"
    assert normalize_address("10.0.0.1") == "10.0.0.1"
    with pytest.raises(ParseError):
        normalize_address("10.0.0.256")


# --- errors ---------------------------------------------------------------------------------

T = "src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2"
R = "src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        ("   \t", "empty line"),
        ("hello world", "layer-4 protocol"),
        (f"tcp      6 1 ESTABLISHED {T}", "missing reply tuple"),
        ("tcp      6 1 src=10.0.0.1", "expected dst="),
        (f"tcp      6 1 {T} {R} {R} use=1", "third src="),
        (f"tcp      17 1 {T} {R}", "protocol tcp printed with number 17"),
        (f"tcp      6 1 {T.replace('10.0.0.1', '10.0.0.999')} {R}", "invalid address"),
        (f"tcp      6 1 {T.replace('10.0.0.1', '010.0.0.1')} {R}", "invalid address"),
        (f"tcp      6 1 {T.replace('10.0.0.1', 'fe80::1%eth0')} {R}", "invalid address"),
        (f"tcp      6 1 {T.replace('10.0.0.1', '2001:db8::1')} {R}", "mixed"),
        (f"ipv6     10 tcp      6 1 {T} {R}", "ipv6 line with ipv4 addresses"),
        (f"ipv4     10 tcp      6 1 {T} {R}", "does not match"),
        (f"tcp      6 1 {T.replace('sport=1', 'sport=70000')} {R}", "out of range"),
        (f"tcp      6 1 {T.replace('sport=1', 'sport=abc')} {R}", "not a decimal"),
        (f"tcp      6 1 {T.replace('sport=1', 'sport=1_0')} {R}", "not a decimal"),
        (f"tcp      6 1 {T.replace('sport=1', 'sport=+1')} {R}", "not a decimal"),
        (f"tcp      6 1 {T.replace('sport=1', 'sport=²')} {R}", "not a decimal"),
        ("tcp      6 1 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1", "missing sport="),
        (f"tcp      6 1 src=1.1.1.1 dst=2.2.2.2 type=1 code=0 id=1 {R}", "missing sport="),
        (f"icmp     1 1 {T} {R}", "missing type="),
        (
            "gre      47 1 src=1.1.1.1 dst=2.2.2.2 srckey=12 dstkey=0x0 "
            "src=2.2.2.2 dst=1.1.1.1 srckey=0x0 dstkey=0x0",
            "not a 0x hex",
        ),
        (f"tcp      6 1 {T} packets=3 {R}", "packets= without bytes="),
        (f"tcp      6 1 {T} {R} mark=1 mark=2", "mark given twice"),
        (f"tcp      6 1 {T} {R} mark=1 garbage", "unexpected 'garbage'"),
        (f"tcp      6 1 {T} {R} mark=-1", "not a decimal"),
        (f"tcp      6 1 {T} sport=9 {R}", "unexpected 'sport=9'"),
        (f"tcp      6 1 {T} {R} zone=70000", "out of range"),
        (f"tcp      999 1 {T} {R}", "out of range"),
        (f"unknown  7 tcp      6 1 {T} {R}", "not IPv4 or IPv6"),
    ],
)
def test_malformed_lines_raise(line: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_entry_line(line, 17)
    assert reason in info.value.reason
    assert info.value.line_no == 17 and info.value.text == line
    assert "line 17" in str(info.value)


def test_unknown_event_tag() -> None:
    with pytest.raises(ParseError, match="unknown event tag"):
        parse_event_line(E_NEW.replace("[NEW]", "[BORN]"), 3)


def test_conntrack_id_right_after_reply_tuple() -> None:
    # Events have no use=, so with -o id the id follows the tuple (or flag) directly.
    ev = parse_event_line(E_UPD1 + " id=77")
    assert ev.entry.id == 77 and ev.entry.reply.sport == 80
    u = parse_entry_line("unknown  0 src=0.0.0.0 dst=0.0.0.0 src=0.0.0.0 dst=0.0.0.0 id=0")
    assert u.id == 0 and u.reply.id is None


# --- blank lines, lines that only look blank, hostile lines -----------------------------------

LOOKS_BLANK = {
    "\xa0": "U+00A0 NO-BREAK SPACE",
    "\u2003": "U+2003 EM SPACE",
    "\u3000": "U+3000 IDEOGRAPHIC SPACE",
    "\ufeff": "U+FEFF ZERO WIDTH NO-BREAK SPACE",
    "\u200b": "U+200B ZERO WIDTH SPACE",
    " \t\u3000 \xa0\r": "U+00A0 NO-BREAK SPACE, U+3000 IDEOGRAPHIC SPACE",
    "\x1c": "U+001C",
    "\x85": "U+0085",
    "\u2028": "U+2028 LINE SEPARATOR",
}


@pytest.mark.parametrize("text", ["", " ", "\t", "\r", "\n", " \t\r\n\v\f "])
def test_ascii_whitespace_is_blank(text: str) -> None:
    assert is_blank_line(text)
    with pytest.raises(ParseError, match="empty line"):
        parse_entry_line(text)


@pytest.mark.parametrize("text", list(LOOKS_BLANK))
def test_a_line_of_other_whitespace_is_not_blank_and_names_its_characters(text: str) -> None:
    assert not is_blank_line(text)
    for parse in (parse_entry_line, parse_event_line):
        with pytest.raises(ParseError) as info:
            parse(text, 9)
        assert info.value.reason == (
            f"no conntrack fields, only whitespace or invisible characters ({LOOKS_BLANK[text]})"
        )
        assert info.value.line_no == 9 and info.value.text == text


def test_unicode_whitespace_inside_a_line_separates_tokens() -> None:
    # Documented: only a line made of such characters is refused; between tokens any
    # whitespace separates (str.split), as conntrack-formats.md section 1 says.
    assert parse_entry_line(L_DNAT.replace(" ", "\xa0", 3)) == parse_entry_line(L_DNAT)
    with pytest.raises(ParseError, match="layer-4 protocol"):  # a BOM is no whitespace
        parse_entry_line("\ufeff" + L_DNAT)


def test_reasons_quote_a_huge_token_cut_short() -> None:
    token = "g" * 1_000_000
    with pytest.raises(ParseError) as info:
        parse_entry_line(f"{BASE} {token} use=1")
    assert info.value.reason == (
        f"unexpected {'g' * QUOTE_LIMIT!r}... (1,000,000 characters) after the reply tuple"
    )
    assert len(str(info.value)) < 400 and info.value.text.endswith("use=1")


def test_numbers_of_any_length() -> None:
    # int() refuses more than 4,300 digits with a ValueError: that must be a reason, not a crash.
    with pytest.raises(ParseError, match=r"mark='11111.*out of range"):
        parse_entry_line(f"{BASE} mark={'1' * 5000} use=1")
    assert parse_entry_line(BASE.replace("mark=0", "mark=" + "0" * 5000 + "7")).mark == 7


def test_bracket_heavy_valid_line_keeps_every_token() -> None:
    # Over FEW_BRACKETS brackets, past SHORT_LINE: the vectorised tokeniser and bounds.
    padding = " ".join(["[x y]"] * (FEW_BRACKETS + 1) + ["[FUTURE]"] * 2000)
    e = parse_entry_line(f"{BASE} {padding} secctx=a  b (c) [start=Tue Mar  4 1:2:3 2025] use=1")
    assert len(e.extra) == FEW_BRACKETS + 2001 and e.extra[0] == "[x y]"
    assert e.secctx == "a  b (c)" and e.start == "Tue Mar  4 1:2:3 2025" and e.use == 1
    words = " ".join(["w"] * SHORT_LINE)
    assert parse_entry_line(f"{BASE} secctx={words} use=1").secctx == words


def test_progname_of_a_long_bracket_heavy_event_line() -> None:
    line = E_USERSPACE.replace("progname=conntrack", "[ a] " * (FEW_BRACKETS + 1) + "progname=a  b")
    line = line.replace(" [USERSPACE]", " [USERSPACE]" + " x=1" * SHORT_LINE)
    ev = parse_event_line(line)
    assert ev.progname == "a  b" and ev.portid == 5146
    assert ev.entry.extra[-1] == "[ a]" and ev.entry.extra.count("x=1") == SHORT_LINE
