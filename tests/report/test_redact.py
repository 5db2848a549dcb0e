"""Redaction: every address becomes its token, the same one everywhere; nothing else changes."""

from __future__ import annotations

import html
import json

import pytest

from ctdiag.report.redact import Redactor


def test_same_address_same_token_in_order_of_first_sight() -> None:
    redactor = Redactor()
    text = "src=10.0.0.1 dst=10.96.0.10 src=10.0.0.1 dst=fd00::1 [fd00:0:0::1]:443"
    assert redactor.text(text) == "src=ip-1 dst=ip-2 src=ip-1 dst=ip6-1 [ip6-1]:443"
    assert redactor.text("reply 10.96.0.10") == "reply ip-2"  # the mapping lasts the run
    assert redactor.tokens == {"10.0.0.1": "ip-1", "10.96.0.10": "ip-2", "fd00::1": "ip6-1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.96.0.0/16", "ip-1/16"),
        ("endpoint 10.244.1.5:53/udp", "endpoint ip-1:53/udp"),
        ("test_x[192.168.1.1]", "test_x[ip-1]"),
        ("fe80::1%eth0", "ip6-1%eth0"),
        ("::1 and ::ffff:10.0.0.7", "ip6-1 and ::ffff:ip-1"),
        ("2001:db8:0:0:0:0:0:1 == 2001:db8::1", "ip6-1 == ip6-1"),
        ("ip-10-0-1-2.ec2.internal talks to 10.0.1.2", "ip-1.ec2.internal talks to ip-1"),
        ("\n10.0.0.1,10.0.0.2", "\nip-1,ip-2"),
        ("fd00:0077:0000:0000:0000:0000:0000:0001", "ip6-1"),  # /proc prints it unabbreviated
        ("source:fd00:77::1 addr:10.0.0.1", "source:ip6-1 addr:ip-1"),
        ("fd00:77::1: 3\n10.0.0.1: 2", "ip6-1: 3\nip-1: 2"),
    ],
)
def test_address_spellings(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "conntrack v1.4.7",
        "kernel 6.1.0-18-amd64",
        "at 05:02:27 on 2026-11-21T05:02:27.123+00:00",
        "checks/test_capacity.py::test_table_occupancy[node1]",
        "li::before and std::map",
        "link/ether aa:bb:cc:dd:ee:ff brd ff:ff:ff:ff:ff:ff",
        "version 1.2.3.4.5 and 300.1.1.1",
        "ip-1 ip6-2 token lookalikes",
        "bare :: stays",
    ],
)
def test_non_addresses_are_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_disabled_redactor_changes_nothing_but_html_still_escapes() -> None:
    redactor = Redactor(enabled=False)
    assert redactor.text("10.0.0.1") == "10.0.0.1"
    assert redactor.value({"10.0.0.1": ["10.0.0.2"]}) == {"10.0.0.1": ["10.0.0.2"]}
    assert redactor.html('<b a="10.0.0.1">') == "&lt;b a=&quot;10.0.0.1&quot;&gt;"


def test_value_redacts_keys_and_nested_strings_only() -> None:
    value = {"nodes": {"10.0.0.9": {"top": [{"key": "10.0.0.9", "count": 3}], "ok": True}}}
    assert Redactor().value(value) == {
        "nodes": {"ip-1": {"top": [{"key": "ip-1", "count": 3}], "ok": True}}
    }


def test_html_document_decodes_pytest_html_json_and_spares_code() -> None:
    data = {"tests": {"t.py::test[10.0.0.1]": [{"log": "E   dst=10.0.0.2\nfd00::3"}]}}
    blob = html.escape(json.dumps(data), quote=True)
    document = (
        "<style>a::before{content:'10.0.0.1'}</style><h1>10.0.0.1</h1>"
        f'<div data-jsonblob="{blob}"></div><script>var v = "10.0.0.2";</script>'
    )
    redacted = Redactor().html_document(document)
    assert "<h1>ip-1</h1>" in redacted
    assert "<style>a::before{content:'10.0.0.1'}</style>" in redacted
    assert '<script>var v = "10.0.0.2";</script>' in redacted
    start = redacted.index('data-jsonblob="') + len('data-jsonblob="')
    decoded = json.loads(html.unescape(redacted[start : redacted.index('"', start)]))
    assert decoded == {"tests": {"t.py::test[ip-1]": [{"log": "E   dst=ip-2\nip6-1"}]}}
