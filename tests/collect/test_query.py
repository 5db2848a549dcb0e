"""The conntrack query, pure: validation messages, argv per tools version, entry matching.

Matching runs on the real captures of ``tests/captures`` (the same table read through
``conntrack -L -o extended`` and through ``/proc/net/nf_conntrack``), whose flows
``MANIFEST.json`` describes.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.collect.query import (
    ConntrackQuery,
    QueryMode,
    conntrack_argv,
    entry_matches,
    parse_query,
    proc_argv,
    table_matches,
)
from ctdiag.errors import CtdiagError, QueryError
from ctdiag.model.entries import ConntrackEntry, Family
from ctdiag.model.table import ConntrackTable
from ctdiag.parse.listing import parse_listing
from tests.paths import CAPTURES

LISTING = ("conntrack", "-L", "-o", "extended")
OPTIONS = frozenset({"-L", "-C", "-S", "-o", "-s", "-d", "-p", "--sport", "--dport", "-w", "-f"})
#: Every value a query may put in an argv: no blank, quote, ``;``, ``$``, ``|``, no leading ``-``.
SAFE_VALUE = re.compile(r"[A-Za-z0-9:][A-Za-z0-9.:]*")
HOSTILE = ["1.2.3.4; rm -rf /", "$(id)", "`id`", "1.2.3.4 -D", "-F", "tcp;id", "80|id", "\n", ""]


# --------------------------------------------------------------------------- validation
def test_defaults_are_a_plain_listing_of_both_families() -> None:
    query = parse_query()
    assert query == ConntrackQuery(QueryMode.LIST)
    assert not query.has_filters and query.family is None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"src": "10.0.0.1"}, {"src": ipaddress.ip_address("10.0.0.1"), "family": Family.IPV4}),
        ({"dst": "2001:DB8:0::1"}, {"dst": ipaddress.ip_address("2001:db8::1")}),
        ({"dst": "2001:DB8:0::1"}, {"family": Family.IPV6}),
        ({"src": "10.0.0.1", "family": "both"}, {"family": Family.IPV4}),
        ({"src": "10.0.0.1", "family": "ipv4"}, {"family": Family.IPV4}),
        ({"family": "ipv6"}, {"family": Family.IPV6}),
        ({"family": "both"}, {"family": None}),
        ({"proto": "udp"}, {"proto": 17}),
        ({"proto": "icmpv6"}, {"proto": 58}),
        ({"proto": "0"}, {"proto": 0}),
        ({"proto": 255}, {"proto": 255}),
        ({"proto": "tcp", "sport": "1", "dport": 65535}, {"sport": 1, "dport": 65535}),
        ({"proto": "132", "dport": "36412"}, {"proto": 132, "dport": 36412}),
        ({"zone": "0"}, {"zone": 0}),
        ({"zone": "65535"}, {"zone": 65535}),
    ],
)  # fmt: skip
def test_valid_values(kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    query = parse_query(**kwargs)
    for name, value in expected.items():
        assert getattr(query, name) == value


PORT_PROTOS = "tcp, udp, dccp, sctp, udplite"
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"src": "10.0.0.256"}, "--src: not an IPv4 or IPv6 address: '10.0.0.256'"),
    ({"dst": "10.0.0.0/8"}, "--dst: not an IPv4 or IPv6 address: '10.0.0.0/8'"),
    ({"src": "fe80::1%eth0"}, "--src: not an IPv4 or IPv6 address: 'fe80::1%eth0'"),
    ({"src": "127.1"}, "--src: not an IPv4 or IPv6 address: '127.1'"),
    ({"src": "10.0.0.1", "family": "ipv6"}, "address 10.0.0.1 is ipv4, but --family is ipv6"),
    ({"dst": "::1", "family": "ipv4"}, "address ::1 is ipv6, but --family is ipv4"),
    ({"src": "10.0.0.1", "dst": "::1"}, "--src and --dst are of different address families"),
    ({"family": "inet"}, "--family: 'inet' is not one of ipv4, ipv6, both"),
    (
        {"proto": "TCP"},
        "-p/--proto: unknown protocol 'TCP' "
        "(use icmp tcp udp dccp gre icmpv6 sctp udplite or a number 0-255)",
    ),
    ({"proto": "256"}, "-p/--proto: unknown protocol '256'"),
    ({"proto": "-1"}, "-p/--proto: unknown protocol '-1'"),
    ({"dport": "53"}, f"--dport needs -p/--proto, one of {PORT_PROTOS}"),
    ({"proto": "icmp", "sport": "1"}, f"--sport: protocol icmp has no ports (use {PORT_PROTOS})"),
    ({"proto": "47", "dport": "1"}, "--dport: protocol gre has no ports"),
    ({"proto": "tcp", "dport": "0"}, "--dport: not a number from 1 to 65535: '0'"),
    ({"proto": "tcp", "sport": "65536"}, "--sport: not a number from 1 to 65535: '65536'"),
    ({"proto": "tcp", "sport": "8_0"}, "--sport: not a number from 1 to 65535: '8_0'"),
    ({"proto": "tcp", "sport": " 80"}, "--sport: not a number from 1 to 65535: ' 80'"),
    ({"zone": "65536"}, "--zone: not a number from 0 to 65535: '65536'"),
    ({"zone": "-1"}, "--zone: not a number from 0 to 65535: '-1'"),
]
INVALID_STATS: list[tuple[dict[str, Any], str]] = [
    ({"src": "10.0.0.1", "proto": "tcp"}, "-S takes no filters (got --src, --proto)"),
    ({"zone": "0"}, "-S takes no filters (got --zone)"),
    ({"family": "ipv4"}, "-S takes no filters (got --family)"),
    ({"proto": "tcp", "dport": "80"}, "-S takes no filters (got --proto, --dport)"),
]


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [(QueryMode.LIST, *case) for case in INVALID]
    + [(QueryMode.COUNT, *case) for case in INVALID[:3]]
    + [(QueryMode.STATS, *case) for case in INVALID_STATS],
)
def test_invalid_values_are_one_line_errors(
    mode: QueryMode, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(QueryError) as raised:
        parse_query(mode, **kwargs)
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text and isinstance(raised.value, CtdiagError)


def test_stats_accepts_family_both() -> None:
    assert parse_query(QueryMode.STATS, family="both") == ConntrackQuery(QueryMode.STATS)


# --------------------------------------------------------------------------- security
@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", ["src", "dst", "proto", "zone", "family"])
def test_hostile_values_are_refused(option: str, value: str) -> None:
    kwargs: dict[str, Any] = {option: value}
    with pytest.raises(QueryError):
        parse_query(**kwargs)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", ["sport", "dport"])
def test_hostile_ports_are_refused(option: str, value: str) -> None:
    kwargs: dict[str, Any] = {"proto": "tcp", option: value}
    with pytest.raises(QueryError):
        parse_query(**kwargs)


@given(
    src=st.one_of(st.none(), st.text(max_size=40), st.ip_addresses().map(str)),
    proto=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["tcp", "udp", "6", "17"])),
    dport=st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 70000).map(str)),
    zone=st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 70000).map(str)),
    version=st.sampled_from(["1.4.4", "1.4.5", "1.4.6", "1.4.7", "1.4.8"]),
)
def test_any_input_is_refused_or_becomes_plain_argv_words(
    src: str | None, proto: str | None, dport: str | None, zone: str | None, version: str
) -> None:
    for mode in QueryMode:
        try:
            query = parse_query(mode, src=src, proto=proto, dport=dport, zone=zone)
        except QueryError as exc:
            assert "\n" not in str(exc).replace("\\n", "")
            continue
        for argv in (*conntrack_argv(query, version), *proc_argv(query)):
            assert argv[0] in ("conntrack", "cat")
            for word in argv[1:]:
                assert word in OPTIONS or SAFE_VALUE.fullmatch(word) or word.startswith("/proc/")


# --------------------------------------------------------------------------- argv
@pytest.mark.parametrize("version", ["1.4.7", "1.4.8", "1.4.9", "1.4.5"])
def test_one_listing_shows_both_families_on_tools_that_can(version: str) -> None:
    assert conntrack_argv(parse_query(), version) == (LISTING,)


@pytest.mark.parametrize("version", ["1.4.6", "1.4.4", "1.2.1", "1.4.6.1"])
def test_older_tools_list_each_family(version: str) -> None:
    query = parse_query(proto="udp", dport="53")
    filters = ("-p", "udp", "--dport", "53")
    assert conntrack_argv(query, version) == (
        (*LISTING, "-f", "ipv4", *filters),
        (*LISTING, "-f", "ipv6", *filters),
    )


@pytest.mark.parametrize("version", ["1.4.4", "1.4.6", "1.4.7"])
def test_one_family_is_one_call_with_f(version: str) -> None:
    assert conntrack_argv(parse_query(family="ipv6"), version) == ((*LISTING, "-f", "ipv6"),)
    query = parse_query(src="10.1.2.3", dst="10.1.2.4")
    assert conntrack_argv(query, version) == (
        (*LISTING, "-s", "10.1.2.3", "-d", "10.1.2.4", "-f", "ipv4"),
    )


def test_every_filter_in_conntrack_order() -> None:
    query = parse_query(
        src="2001:DB8:0:0::5", dst="::ffff:192.0.2.1", proto="tcp", sport="40000", dport="443",
        zone="5",
    )  # fmt: skip
    assert conntrack_argv(query, "1.4.7") == (
        (
            *LISTING,
            "-s", "2001:db8::5", "-d", "::ffff:192.0.2.1", "-p", "tcp",
            "--sport", "40000", "--dport", "443", "-w", "5", "-f", "ipv6",
        ),
    )  # fmt: skip


def test_protocol_numbers_pass_as_names_when_conntrack_has_one() -> None:
    assert conntrack_argv(parse_query(proto="17"), "1.4.7") == ((*LISTING, "-p", "udp"),)
    assert conntrack_argv(parse_query(proto="4"), "1.4.7") == ((*LISTING, "-p", "4"),)


def test_count_uses_dash_c_only_without_filters() -> None:
    assert conntrack_argv(parse_query(QueryMode.COUNT), "1.4.7") == (("conntrack", "-C"),)
    filtered = parse_query(QueryMode.COUNT, proto="tcp")
    assert filtered.counts_by_listing
    assert conntrack_argv(filtered, "1.4.7") == ((*LISTING, "-p", "tcp"),)
    family_only = parse_query(QueryMode.COUNT, family="ipv4")
    assert conntrack_argv(family_only, "1.4.6") == ((*LISTING, "-f", "ipv4"),)


def test_stats_is_dash_s() -> None:
    assert conntrack_argv(parse_query(QueryMode.STATS), "1.4.4") == (("conntrack", "-S"),)


def test_proc_commands() -> None:
    entries = (("cat", "/proc/net/nf_conntrack"),)
    assert proc_argv(parse_query()) == entries
    assert proc_argv(parse_query(QueryMode.COUNT, zone="1")) == entries
    assert proc_argv(parse_query(QueryMode.COUNT)) == (
        ("cat", "/proc/sys/net/netfilter/nf_conntrack_count"),
    )
    assert proc_argv(parse_query(QueryMode.STATS)) == (("cat", "/proc/net/stat/nf_conntrack"),)


# --------------------------------------------------------------------------- matching
#: The same table as conntrack -L -o extended, /proc, and with labels and timestamps (rows
#: the columns cannot hold, kept whole in the table's overflow).
LISTINGS = (
    "conntrack_L_extended",
    "proc_net_nf_conntrack",
    "conntrack_L_labels",
    "conntrack_L_extended_id_ktimestamp",
)


@cache
def _table(name: str) -> ConntrackTable:
    table = parse_listing((CAPTURES / f"{name}.stdout").read_bytes())
    assert not table.diagnostics.malformed
    return table


@cache
def _captured(name: str) -> tuple[ConntrackEntry, ...]:
    return tuple(_table(name))


def _key(entry: ConntrackEntry) -> tuple[object, ...]:
    o = entry.orig
    return (entry.family, entry.protonum, o.src, o.dst, o.sport, o.dport, o.type, o.id)


def _matching(name: str, query: ConntrackQuery) -> list[tuple[object, ...]]:
    return sorted((_key(e) for e in _captured(name) if entry_matches(e, query)), key=repr)


@pytest.mark.parametrize(
    ("kwargs", "count"),
    [
        ({}, 25),
        ({"family": "ipv4"}, 15),
        ({"family": "ipv6"}, 10),
        # Any spelling of an address: /proc prints IPv6 uncompressed, conntrack compressed.
        ({"src": "fd00:0123:0001:0000::0002"}, 10),
        ({"src": "10.123.1.2"}, 15),
        ({"dst": "10.123.100.1", "proto": "tcp", "dport": "80"}, 6),
        # Original direction only: the DNAT flows' replies come from 10.123.2.2 too.
        ({"dst": "10.123.2.2"}, 7),
        ({"src": "10.123.2.2"}, 0),
        ({"proto": "icmp"}, 2),
        ({"proto": "58"}, 1),
        ({"proto": "udp", "dport": "53"}, 3),
        ({"proto": "tcp", "sport": "41001"}, 1),
        ({"proto": "tcp", "dport": "8080"}, 1),
        # The non-directional zone: zone-orig=7 is in zone 0 for conntrack -w.
        ({"zone": "5"}, 2),
        ({"zone": "5", "family": "ipv6"}, 1),
        ({"zone": "7"}, 0),
        ({"zone": "0"}, 23),
    ],
)
def test_matching_on_real_captures_agrees_between_cli_and_proc(
    kwargs: dict[str, Any], count: int
) -> None:
    query = parse_query(**kwargs)
    from_cli = _matching("conntrack_L_extended", query)
    assert from_cli == _matching("proc_net_nf_conntrack", query)
    assert len(from_cli) == count
    for name in LISTINGS:  # the columnar twin decides every row the same way
        expected = [entry_matches(entry, query) for entry in _captured(name)]
        assert table_matches(_table(name), query).tolist() == expected


def test_overflow_rows_are_matched_too() -> None:
    table = _table("conntrack_L_labels")
    assert table.overflow
    query = parse_query(proto="tcp", dport="80", family="ipv6")
    mask = table_matches(table, query)
    assert mask.tolist() == [entry_matches(e, query) for e in table]
    assert any(mask[row] for row in table.overflow) and not all(mask[row] for row in table.overflow)


def test_matching_follows_the_original_tuple_of_a_dnat_flow() -> None:
    (entry,) = (
        e for e in _captured("proc_net_nf_conntrack") if e.orig.sport == 40080 and e.protonum == 6
    )
    assert entry.dnat
    assert entry_matches(entry, parse_query(dst="10.123.100.1", proto="tcp", dport="80"))
    assert not entry_matches(entry, parse_query(dst="10.123.2.2"))
    assert not entry_matches(entry, parse_query(proto="tcp", dport="8080"))
    assert not entry_matches(entry, parse_query(family="ipv6"))
    assert not entry_matches(entry, parse_query(proto="udp"))
    assert not entry_matches(entry, parse_query(zone="1"))
