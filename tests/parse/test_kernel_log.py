"""F11: conntrack messages in dmesg, syslog and journal text."""

from __future__ import annotations

import pytest

from ctdiag.parse.kernel_log import (
    KernelLogFindings,
    SuppressionKind,
    TableFullVariant,
    parse_kernel_log,
)

# Every wording of conntrack-formats.md section 11.
MESSAGES = [
    ("ip_conntrack: table full, dropping packet.", TableFullVariant.IP_CONNTRACK, None),
    ("nf_conntrack: table full, dropping packet.", TableFullVariant.PRINTK, None),
    ("nf_conntrack: table full, dropping packet", TableFullVariant.RATELIMITED, None),
    (
        "nf_conntrack: nf_conntrack: table full, dropping packet",
        TableFullVariant.MODULE_PREFIX,
        None,
    ),
    (
        "nf_conntrack: table full in netns 4026531840, dropping packet",
        TableFullVariant.NETNS,
        4026531840,
    ),
]
# Each prefix form, with the timestamp and host it should yield.
PREFIXES = [
    ("", None, None),
    ("[12345.678901] ", "12345.678901", None),
    ("[    5.000100] ", "5.000100", None),
    ("<4>[ 8131.000001] ", "8131.000001", None),
    ("kern  :warn  : [ 8131.000001] ", "8131.000001", None),
    ("[Tue Mar  4 10:12:01 2025] ", "Tue Mar  4 10:12:01 2025", None),
    ("Mar  4 10:12:01 worker-3 kernel: ", "Mar  4 10:12:01", "worker-3"),
    ("Mar  4 10:12:01 worker-3 kernel: [12345.678901] ", "Mar  4 10:12:01", "worker-3"),
    ("Mar 04 10:12:01.123456 worker-3 kernel: ", "Mar 04 10:12:01.123456", "worker-3"),
    ("2025-03-04T10:12:01+0000 worker-3 kernel: ", "2025-03-04T10:12:01+0000", "worker-3"),
    (
        "2025-03-04T10:12:01.123456+00:00 worker-3 kernel: ",
        "2025-03-04T10:12:01.123456+00:00",
        "worker-3",
    ),
    (
        "Tue 2025-03-04 10:12:01 UTC worker-3 kernel: ",
        "Tue 2025-03-04 10:12:01 UTC",
        "worker-3",
    ),
    ("[ 8131.000001] worker-3 kernel: ", "8131.000001", "worker-3"),
]


@pytest.mark.parametrize(("message", "variant", "netns"), MESSAGES)
@pytest.mark.parametrize(("prefix", "timestamp", "host"), PREFIXES)
def test_table_full_every_era_every_prefix(
    message: str,
    variant: TableFullVariant,
    netns: int | None,
    prefix: str,
    timestamp: str | None,
    host: str | None,
) -> None:
    text = f"some unrelated line\n{prefix}{message}\n"
    findings = parse_kernel_log(text)
    assert findings.table_full_count == 1 and findings.lines_read == 2
    found = findings.table_full[0]
    assert (found.line_no, found.variant, found.netns) == (2, variant, netns)
    assert (found.timestamp, found.host) == (timestamp, host)
    assert found.text == prefix + message
    assert findings.variants == {variant}


def test_unforeseen_prefix_still_matches_without_timestamp() -> None:
    findings = parse_kernel_log("<kern.warn> node7 nf_conntrack: table full, dropping packet\n")
    assert findings.table_full_count == 1
    assert findings.table_full[0].timestamp is None


DMESG = """\
[ 7190.112233] eth0: renamed from veth1234
[ 7200.000001] nf_conntrack: nf_conntrack: table full, dropping packet
[ 7205.000002] net_ratelimit: 2718 callbacks suppressed
[ 7205.000003] nf_conntrack: nf_conntrack: table full, dropping packet
[ 7205.000004] nf_conntrack: nf_conntrack: table full, dropping packet
[ 7210.000005] net_ratelimit: 31 callbacks suppressed
[ 7211.000006] nf_ct_proto_6: invalid packet ignored in state ESTABLISHED  IN= OUT=eth0 SRC=10.0.0.5 DST=10.96.0.10 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=40000 DPT=53 WINDOW=0 RES=0x00 RST URGP=0 MARK=0x0
[ 7212.000007] nf_ct_proto_17: bad checksum IN=eth0 OUT= SRC=10.0.0.7 DST=10.0.0.5 LEN=33 PROTO=UDP SPT=53 DPT=40312
[ 7213.000008] nf_ct_tcp: invalid TCP flag combination IN=eth0 OUT= SRC=192.0.2.1 DST=10.0.0.5
[ 7214.000009] nf_ct_proto_6: SEQ is under the lower bound (already ACKed data retransmitted)
"""  # noqa: E501


def test_dmesg_with_companions() -> None:
    findings = parse_kernel_log(DMESG)
    assert findings.table_full_count == 3
    assert [m.line_no for m in findings.table_full] == [2, 4, 5]
    assert findings.variants == {TableFullVariant.MODULE_PREFIX}
    assert [(n.line_no, n.count, n.kind) for n in findings.suppressed] == [
        (3, 2718, SuppressionKind.NET_RATELIMIT),
        (6, 31, SuppressionKind.NET_RATELIMIT),
    ]
    assert findings.suppressed_total == 2749
    assert findings.invalid_count == 4
    first, second, old, bare = findings.invalid
    assert (first.protonum, first.reason) == (6, "invalid packet ignored in state ESTABLISHED")
    assert (first.src, first.dst, first.timestamp) == ("10.0.0.5", "10.96.0.10", "7211.000006")
    assert (second.protonum, second.reason, second.src) == (17, "bad checksum", "10.0.0.7")
    assert (old.protonum, old.reason) == (6, "invalid TCP flag combination")
    assert bare.src is None and bare.reason.startswith("SEQ is under")


def test_old_printk_suppression_note() -> None:
    text = (
        "Jan 10 03:00:01 node1 kernel: ip_conntrack: table full, dropping packet.\n"
        "Jan 10 03:00:06 node1 kernel: printk: 120 messages suppressed.\n"
        "Jan 10 03:00:06 node1 kernel: ip_conntrack: table full, dropping packet.\n"
    )
    findings = parse_kernel_log(text)
    assert findings.table_full_count == 2
    assert findings.suppressed[0].kind is SuppressionKind.PRINTK
    assert findings.suppressed[0].count == 120 and findings.suppressed[0].host == "node1"


def test_journal_short_iso_mixed_with_other_units() -> None:
    text = (
        "2025-03-04T10:12:01+0000 worker-3 kubelet[812]: I0304 probe ok\n"
        "2025-03-04T10:12:02+0000 worker-3 kernel: nf_conntrack: nf_conntrack: table full,"
        " dropping packet\n"
        "-- Boot 5f2e --\n"
    )
    findings = parse_kernel_log(text)
    assert findings.table_full_count == 1 and findings.table_full[0].line_no == 2


def test_nothing_found() -> None:
    findings = parse_kernel_log("[1.0] Linux version 6.18\n[2.0] nf_conntrack: version 0.5.0\n")
    assert findings == KernelLogFindings(lines_read=2)
    assert findings.suppressed_total == 0 and findings.variants == frozenset()
    assert parse_kernel_log("") == KernelLogFindings()


def test_near_misses_are_not_table_full() -> None:
    text = (
        "nf_conntrack: table full\n"  # no "dropping packet": not the kernel's message
        "nf_conntrack: falling back to vmalloc.\n"
        "xt_conntrack: dropping packet, table full\n"
        "nf_ct_h323: packet dropped\n"  # a helper, not protocol tracking
    )
    findings = parse_kernel_log(text)
    assert findings.table_full_count == 0 and findings.invalid_count == 0
