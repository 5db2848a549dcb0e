"""F6 (``conntrack -C``), F10 sysctl files and sysctl dumps."""

from __future__ import annotations

import pytest

from ctdiag.errors import ParseError
from ctdiag.parse.sysctl import (
    TableLimits,
    Tunable,
    Tunables,
    dotted_name,
    parse_conntrack_count,
    parse_sysctl_dump,
    parse_sysctl_int,
    parse_table_limits,
)
from tests.paths import STATS_DATA as DATA


@pytest.mark.parametrize(("text", "value"), [("262144\n", 262144), ("  0 \n", 0), ("-1", -1)])
def test_parse_sysctl_int(text: str, value: int) -> None:
    assert parse_sysctl_int(text, name="x") == value


@pytest.mark.parametrize("text", ["", "\n", "abc\n", "1 2\n", "0x10", "1.5", "12\n13\n"])
def test_parse_sysctl_int_rejects_non_integers(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_sysctl_int(text, name="/proc/sys/net/netfilter/nf_conntrack_max")
    message = str(info.value)
    assert message.startswith("/proc/sys/net/netfilter/nf_conntrack_max: expected one integer")
    assert "\n" not in message


def test_conntrack_count_f6() -> None:
    assert parse_conntrack_count("1234\n") == 1234
    with pytest.raises(ParseError, match="conntrack -C"):
        parse_conntrack_count("conntrack v1.4.7 (conntrack-tools): Operation failed\n")


def test_table_limits() -> None:
    limits = parse_table_limits(count="196608\n", max="262144\n", buckets="65536\n")
    assert limits == TableLimits(196608, 262144, 65536)
    assert limits.occupancy == 0.75 and limits.max_per_bucket == 4.0
    assert TableLimits(1, 0, 0).occupancy == 0.0
    with pytest.raises(ParseError, match="nf_conntrack_buckets: expected one integer"):
        parse_table_limits(count="1", max="2", buckets="")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/proc/sys/net/netfilter/nf_conntrack_max", "net.netfilter.nf_conntrack_max"),
        ("/proc/sys/net/netfilter/nf_log/2", "net.netfilter.nf_log.2"),
        ("/proc/sys/net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter"),
        ("/proc/sys/net/bridge/bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables"),
        ("/proc/sys/net/ipv4/netfilter/ip_conntrack_max", "net.ipv4.netfilter.ip_conntrack_max"),
    ],
)
def test_dotted_name(path: str, name: str) -> None:
    assert dotted_name(path) == name


GREP_DUMP = """\
/proc/sys/net/netfilter/nf_conntrack_max:262144
/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established:86400
/proc/sys/net/netfilter/nf_log/2:nf_log_ipv4
/proc/sys/net/netfilter/nf_conntrack_future_knob:7
grep: /proc/sys/net/netfilter/nf_conntrack_secret: Permission denied
"""
SYSCTL_DUMP = """\
net.netfilter.nf_conntrack_max = 262144
net.netfilter.nf_conntrack_tcp_timeout_established = 86400
net.netfilter.nf_log.2 = nf_log_ipv4
net.netfilter.nf_conntrack_future_knob = 7
net.ipv4.ip_local_port_range = 32768\t60999
net.bridge.bridge-nf-call-iptables = 1
sysctl: permission denied on key 'net.ipv4.route.flush'
"""


def test_grep_and_sysctl_forms_agree() -> None:
    grep, sysctl = parse_sysctl_dump(GREP_DUMP), parse_sysctl_dump(SYSCTL_DUMP)
    for name in grep:
        assert grep[name] == sysctl[name], name
    assert grep.get_int(Tunable.MAX) == sysctl.get_int(Tunable.MAX) == 262144
    assert grep.get_int(Tunable.TCP_TIMEOUT_ESTABLISHED) == 86400
    assert grep.get_int("net.netfilter.nf_conntrack_future_knob") == 7  # unknown, kept
    assert grep.entry("net.netfilter.nf_log.2").path == "/proc/sys/net/netfilter/nf_log/2"
    assert sysctl.entry("net.netfilter.nf_log.2").path is None
    assert sysctl["net.ipv4.ip_local_port_range"] == "32768\t60999"
    assert sysctl.get_int(Tunable.BRIDGE_NF_CALL_IPTABLES) == 1
    assert grep.notices == ("grep: /proc/sys/net/netfilter/nf_conntrack_secret: Permission denied",)
    assert len(sysctl.notices) == 1 and not grep.malformed and not sysctl.malformed
    assert len(grep) == 4 and "net.netfilter.nf_conntrack_max" in grep


def test_absent_and_non_integer_values() -> None:
    grep, sysctl = parse_sysctl_dump(GREP_DUMP), parse_sysctl_dump(SYSCTL_DUMP)
    assert grep.get_int(Tunable.BUCKETS) is None
    assert grep.get("net.netfilter.nf_conntrack_buckets") is None
    with pytest.raises(KeyError):
        grep["net.netfilter.nf_conntrack_buckets"]
    with pytest.raises(ParseError) as info:
        grep.get_int("net.netfilter.nf_log.2")
    assert str(info.value) == (
        "line 3: /proc/sys/net/netfilter/nf_log/2: expected one integer, got 'nf_log_ipv4'"
    )
    with pytest.raises(ParseError, match=r"net\.ipv4\.ip_local_port_range: expected one integer"):
        sysctl.get_int("net.ipv4.ip_local_port_range")


BROKEN_DUMP = """\
net.netfilter.nf_conntrack_max = 262144
this is not a sysctl line
/etc/sysctl.conf:net.netfilter.nf_conntrack_max=1

net.netfilter.nf_conntrack_max = 131072
net.netfilter.nf_conntrack_max = 262144
"""


def test_malformed_lenient_and_strict() -> None:
    tunables = parse_sysctl_dump(BROKEN_DUMP)
    assert [bad.line_no for bad in tunables.malformed] == [2, 3, 5]
    assert "repeated with another value (first: line 1)" in tunables.malformed[2].reason
    assert tunables.get_int(Tunable.MAX) == 262144  # the first value stays
    assert len(tunables) == 1
    with pytest.raises(ParseError) as info:
        parse_sysctl_dump(BROKEN_DUMP, strict=True)
    assert info.value.line_no == 2


def test_empty_dump() -> None:
    assert parse_sysctl_dump("") == Tunables(())


def test_real_captures_agree_with_each_other() -> None:
    grep = parse_sysctl_dump((DATA / "grep-proc-sys-net-netfilter.txt").read_text(), strict=True)
    sysctl = parse_sysctl_dump((DATA / "sysctl-net-netfilter.txt").read_text(), strict=True)
    assert dict(grep) == dict(sysctl)
    assert len(grep) > 40
    limits = parse_table_limits(
        count=(DATA / "nf_conntrack_count.txt").read_text(),
        max=(DATA / "nf_conntrack_max.txt").read_text(),
        buckets=(DATA / "nf_conntrack_buckets.txt").read_text(),
    )
    assert grep.get_int(Tunable.MAX) == limits.max
    assert grep.get_int(Tunable.BUCKETS) == limits.buckets
    assert grep.get_int(Tunable.COUNT) == limits.count
    assert parse_conntrack_count((DATA / "conntrack-C.txt").read_text()) == limits.count
    # Kernel defaults, as the checks guide lists them; the capture's namespace is fresh.
    assert grep.get_int(Tunable.TCP_TIMEOUT_ESTABLISHED) == 432000
    assert grep.get_int(Tunable.TCP_LOOSE) == 1
    assert grep["net.netfilter.nf_log.0"] == "NONE"
