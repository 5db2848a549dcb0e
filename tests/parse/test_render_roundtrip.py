"""Renderers reproduce producer text exactly; parse(render(e)) == e; JSON schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctdiag.model.entries import ConntrackEntry
from ctdiag.parse.entries import parse_entry_line, parse_event_line
from ctdiag.parse.entry_json import entry_to_json, event_to_json
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.render import render_conntrack_line, render_event_line, render_proc_line
from tests.parse.test_entries import (
    E_USERSPACE,
    EVENT_EXAMPLES,
    F1_EXAMPLES,
    F8_EXAMPLES,
    L_DNAT,
    L_EXTENDED,
    L_KTIME,
)
from tests.strategies import entries, events, project_event, project_f1, project_f8

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("line", F1_EXAMPLES)
def test_f1_examples_render_byte_for_byte(line: str) -> None:
    assert render_conntrack_line(parse_entry_line(line), with_id=True) == line


def test_extended_example_renders_byte_for_byte() -> None:
    assert render_conntrack_line(parse_entry_line(L_EXTENDED), extended=True) == L_EXTENDED


def test_id_only_with_option() -> None:
    assert render_conntrack_line(parse_entry_line(L_KTIME)).endswith("helper=ftp use=1")


@pytest.mark.parametrize("line", F8_EXAMPLES)
def test_f8_examples_render_byte_for_byte(line: str) -> None:
    assert render_proc_line(parse_entry_line(line)) == line


@pytest.mark.parametrize("line", EVENT_EXAMPLES)
def test_event_examples_render_byte_for_byte(line: str) -> None:
    assert render_event_line(parse_event_line(line)) == line


@pytest.mark.parametrize(
    ("address", "f1", "f8"),
    [
        ("2001:db8::1", "2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"),
        ("::1", "::1", "0000:0000:0000:0000:0000:0000:0000:0001"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", "0000:0000:0000:0000:0000:ffff:c000:0201"),
        ("::2:3", "::0.2.0.3", "0000:0000:0000:0000:0000:0000:0002:0003"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", "2001:0db8:0000:0001:0001:0001:0001:0001"),
        ("1:0:0:2::3", "1:0:0:2::3", "0001:0000:0000:0002:0000:0000:0000:0003"),
    ],
)
def test_ipv6_rendering(address: str, f1: str, f8: str) -> None:
    line = L_DNAT.replace("203.0.113.50", address).replace("198.51.100.10", "::9")
    line = line.replace("10.0.0.21", "::9")
    entry = parse_entry_line(line)
    assert f"src={f1} " in render_conntrack_line(entry)
    assert f"src={f8} " in render_proc_line(entry)
    assert parse_entry_line(render_conntrack_line(entry)) == entry


@SETTINGS
@given(entries(), st.booleans(), st.booleans())
def test_f1_roundtrip(entry: ConntrackEntry, extended: bool, with_id: bool) -> None:
    text = render_conntrack_line(entry, extended=extended, with_id=with_id)
    assert "  " not in text.split(" src=", 1)[1] or entry.secctx or entry.start or entry.stop
    assert not text.endswith(" ")
    assert parse_entry_line(text) == project_f1(entry, with_id=with_id)


@SETTINGS
@given(entries())
def test_f8_roundtrip(entry: ConntrackEntry) -> None:
    text = render_proc_line(entry)
    assert text.startswith(("ipv4     2 ", "ipv6     10 "))
    assert f" zone={entry.zone}" in text
    assert parse_entry_line(text) == project_f8(entry)


@SETTINGS
@given(events())
def test_event_roundtrip(event: object) -> None:
    from ctdiag.model.entries import ConntrackEvent

    assert isinstance(event, ConntrackEvent)
    text = render_event_line(event, with_id=True)
    assert parse_event_line(text) == project_event(event)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries(), min_size=1, max_size=30), st.booleans())
def test_listing_roundtrip_through_table(batch: list[ConntrackEntry], use_fast: bool) -> None:
    f1 = "".join(render_conntrack_line(e, with_id=True) + "\n" for e in batch)
    table = parse_listing(f1.encode(), use_fast=use_fast)
    assert table.diagnostics.malformed == ()
    assert list(table) == [project_f1(e) for e in batch]
    f8 = "".join(render_proc_line(e) + "\n" for e in batch)
    assert list(parse_listing(f8, use_fast=use_fast)) == [project_f8(e) for e in batch]


def test_entry_json_schema() -> None:
    out = entry_to_json(parse_entry_line(L_DNAT))
    assert out == {
        "family": "ipv4", "proto": "tcp", "protonum": 6, "timeout": 431999,
        "state": "ESTABLISHED",
        "orig": {"src": "203.0.113.50", "dst": "198.51.100.10", "sport": 51234, "dport": 443},
        "reply": {"src": "10.0.0.21", "dst": "203.0.113.50", "sport": 8443, "dport": 51234},
        "flags": ["ASSURED"], "mark": 0, "zone": 0, "secctx": None, "use": 1, "id": None,
        "delta_time": None, "helper": None, "labels": None, "dnat": True, "snat": False,
    }  # fmt: skip
    assert json.loads(json.dumps(out)) == out


def test_entry_json_optional_keys() -> None:
    line = L_KTIME + " labels=a,b [FUTURE] x=1"
    out = entry_to_json(parse_entry_line(line))
    assert out["start"] == "Tue Mar  4 10:12:01 2025" and "stop" not in out
    assert (out["helper"], out["id"], out["delta_time"]) == ("ftp", 3523123411, 125)
    assert out["labels"] == ["a", "b"] and out["extra"] == ["[FUTURE]", "x=1"]
    icmp = entry_to_json(parse_entry_line(L_EXTENDED))
    assert icmp["family"] == "ipv6"
    assert icmp["orig"] == {
        "src": "2001:db8::5", "dst": "2001:db8::1", "type": 128, "code": 0, "id": 4711
    }  # fmt: skip


def test_event_json() -> None:
    out = event_to_json(parse_event_line(E_USERSPACE))
    assert (out["event"], out["portid"], out["progname"], out["timestamp"]) == (
        "DESTROY", 5146, "conntrack", None
    )  # fmt: skip
    assert out["flags"] == ["ASSURED", "USERSPACE"] and out["use"] is None


@SETTINGS
@given(entries())
def test_json_always_has_schema_keys(entry: ConntrackEntry) -> None:
    out = entry_to_json(entry)
    required = {
        "family", "proto", "protonum", "timeout", "state", "orig", "reply", "flags", "mark",
        "zone", "secctx", "use", "id", "delta_time", "helper", "labels", "dnat", "snat",
    }  # fmt: skip
    assert required <= out.keys()
    assert set(out) - required <= {
        "extra", "secmark", "start", "stop", "gre_timeout", "gre_stream_timeout"
    }  # fmt: skip
    assert json.loads(json.dumps(out)) == out
