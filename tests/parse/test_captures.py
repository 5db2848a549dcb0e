"""Golden tests: the parsers against real output of this kernel's conntrack.

The captures in ``tests/captures/`` were produced by ``tests/captures/make_captures.py`` in
throwaway network namespaces; ``MANIFEST.json`` records the commands and the flows that were
created on purpose, with the NAT, marks, zones and labels the node's rules gave them. Every
assertion here is a fact of that run, not of the format documentation.

Timeouts and ``delta-time`` tick while the captures are taken one after another, so they are
compared with a small tolerance; everything else must be identical across captures.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Any

import pytest

from ctdiag.model.entries import ConntrackEntry, ConntrackEvent, EventType, Family
from tests.paths import CAPTURES

try:
    from ctdiag.parse.listing import parse_events, parse_listing
except ImportError as exc:  # the parser is written concurrently; say so instead of erroring
    pytest.skip(f"parser API not available yet: {exc}", allow_module_level=True)

MANIFEST: dict[str, Any] = json.loads((CAPTURES / "MANIFEST.json").read_text())
CAPTURE_BY_NAME: dict[str, dict[str, Any]] = {c["name"]: c for c in MANIFEST["captures"]}
FLOWS: list[dict[str, Any]] = MANIFEST["flows"]
LISTED = [f for f in FLOWS if f["listed"] and not f["deleted"]]
PROTONUM = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
TRAILER_RE = re.compile(
    r"conntrack v(\S+) \(conntrack-tools\): (\d+) flow (entries|events) have been (\w+)\."
)
CONNTRACK_LISTINGS = sorted(c["name"] for c in MANIFEST["captures"] if c.get("kind") == "listing")
ALL_LISTINGS = [*CONNTRACK_LISTINGS, "proc_net_nf_conntrack"]
EVENT_CAPTURES = sorted(c["name"] for c in MANIFEST["captures"] if c.get("kind") == "events")
TIMEOUT_SLACK = 3  # seconds between the first and the last capture of the run
DELTA_SLACK = 2


# --------------------------------------------------------------------------- helpers
def _read(name: str, stream: str = "stdout") -> bytes:
    return (CAPTURES / CAPTURE_BY_NAME[name][stream]).read_bytes()


@cache
def _table(name: str, stream: str = "stdout") -> Any:
    return parse_listing(_read(name, stream))


@cache
def _entries(name: str, stream: str = "stdout") -> tuple[ConntrackEntry, ...]:
    return tuple(_table(name, stream))


@cache
def _events(name: str) -> tuple[tuple[ConntrackEvent, ...], Any]:
    events, diagnostics = parse_events(_read(name))
    return tuple(events), diagnostics


def _stderr_trailer(name: str) -> tuple[str, int, str, str]:
    """(version, count, noun, verb) of the trailer in a capture's stderr file, by regex."""
    match = TRAILER_RE.search(_read(name, "stderr").decode())
    assert match, f"{name}.stderr has no conntrack-tools trailer"
    return match[1], int(match[2]), match[3], match[4]


def _l4(t: Any, protonum: int) -> tuple[int | None, ...]:
    if protonum in (1, 58):
        return (t.type, t.code, t.id)
    return (t.sport, t.dport)


def entry_key(e: ConntrackEntry) -> tuple[Any, ...]:
    """Identity of a flow: L4 protocol, original tuple (binary addresses), zones."""
    o = e.orig
    return (
        e.protonum,
        ipaddress.ip_address(o.src),
        ipaddress.ip_address(o.dst),
        _l4(o, e.protonum),
        e.zone,
        o.zone,
    )


def flow_key(f: dict[str, Any]) -> tuple[Any, ...]:
    """The same identity computed from a planned flow of the manifest."""
    o, protonum = f["orig"], PROTONUM[f["proto"]]
    l4 = (o["type"], o["code"], o["id"]) if protonum in (1, 58) else (o["sport"], o["dport"])
    return (
        protonum,
        ipaddress.ip_address(o["src"]),
        ipaddress.ip_address(o["dst"]),
        l4,
        f["zone"],
        f["zone_orig"],
    )


def by_key(entries: Iterable[ConntrackEntry]) -> dict[tuple[Any, ...], ConntrackEntry]:
    out: dict[tuple[Any, ...], ConntrackEntry] = {}
    for e in entries:
        assert entry_key(e) not in out, f"two entries for one flow: {e}"
        out[entry_key(e)] = e
    return out


def stable_fields(e: ConntrackEntry) -> dict[str, Any]:
    """Everything both `conntrack -L` and /proc print, minus the ticking and the use count."""
    return {
        "family": e.family,
        "proto": e.proto,
        "protonum": e.protonum,
        "orig": e.orig,
        "reply": e.reply,
        "state": e.state,
        "flags": e.flags,
        "mark": e.mark,
        "zone": e.zone,
        "secctx": e.secctx,
        "extra": e.extra,
    }


def assert_same_flows(a: Iterable[ConntrackEntry], b: Iterable[ConntrackEntry], what: str) -> None:
    ka, kb = by_key(a), by_key(b)
    assert ka.keys() == kb.keys(), f"{what}: flows differ: {ka.keys() ^ kb.keys()}"
    for k, ea in ka.items():
        eb = kb[k]
        assert stable_fields(ea) == stable_fields(eb), f"{what}: {ea} != {eb}"
        assert ea.timeout is not None and eb.timeout is not None
        assert abs(ea.timeout - eb.timeout) <= TIMEOUT_SLACK, f"{what}: timeouts {ea} {eb}"
        assert ea.delta_time is not None and eb.delta_time is not None
        assert abs(ea.delta_time - eb.delta_time) <= DELTA_SLACK, f"{what}: delta-time {ea} {eb}"


def _data_lines(raw: bytes) -> list[str]:
    return [line for line in raw.decode().splitlines() if line.strip()]


# --------------------------------------------------------------------------- the capture itself
def test_manifest_records_environment_and_commands() -> None:
    env = MANIFEST["environment"]
    assert env["uname_r"] and env["date_utc"]
    assert env["conntrack_version"].startswith("conntrack v1.4.7")
    for c in MANIFEST["captures"]:
        assert c["namespace"] == MANIFEST["topology"]["namespaces"]["node"]
        assert c["full_argv"][:4] == ["ip", "netns", "exec", c["namespace"]]
        # `timeout` ends the event listeners: 124 is the expected status there
        assert c["exit_status"] == (124 if c["kind"] == "events" else 0), c["name"]
        for stream in ("stdout", "stderr", "merged"):
            if stream in c:
                assert (CAPTURES / c[stream]).is_file(), c[stream]


def test_merged_capture_really_has_the_trailer_inside_a_line() -> None:
    """The point of the merged capture: stdout was block-buffered, the trailer cut a line."""
    text = _read("conntrack_L_merged", "merged").decode()
    lines = text.splitlines()
    inside = [ln for ln in lines if "(conntrack-tools)" in ln and not ln.startswith("conntrack v")]
    assert inside, "trailer did not land mid-line in this capture"


# --------------------------------------------------------------------------- listings
@pytest.mark.parametrize("name", ALL_LISTINGS)
def test_every_line_parses(name: str) -> None:
    table = _table(name)
    assert table.diagnostics.malformed == (), table.diagnostics.malformed
    assert len(table) == len(_data_lines(_read(name)))


@pytest.mark.parametrize("name", CONNTRACK_LISTINGS)
def test_entry_count_equals_stderr_trailer(name: str) -> None:
    version, count, noun, verb = _stderr_trailer(name)
    assert (version, noun, verb) == ("1.4.7", "entries", "shown")
    assert len(_table(name)) == count


@pytest.mark.parametrize("name", CONNTRACK_LISTINGS)
def test_stderr_alone_parses_to_its_trailer(name: str) -> None:
    table = parse_listing(_read(name, "stderr"))
    assert len(table) == 0
    assert table.diagnostics.malformed == ()
    assert table.diagnostics.trailer is not None
    assert table.diagnostics.trailer.count == _stderr_trailer(name)[1]
    assert table.diagnostics.trailer.version == "1.4.7"


def test_planned_flows_are_listed_with_their_nat_mark_zone_state() -> None:
    listed = by_key(_entries("conntrack_L"))
    for f in LISTED:
        e = listed.get(flow_key(f))
        assert e is not None, f"flow {f['name']} not found in conntrack -L"
        fam = Family.IPV4 if f["family"] == "ipv4" else Family.IPV6
        assert (e.family, e.proto, e.protonum) == (fam, f["proto"], PROTONUM[f["proto"]]), f["name"]
        r = f["reply"]
        assert ipaddress.ip_address(e.reply.src) == ipaddress.ip_address(r["src"]), f["name"]
        assert ipaddress.ip_address(e.reply.dst) == ipaddress.ip_address(r["dst"]), f["name"]
        assert _l4(e.reply, e.protonum) == (
            (r["type"], r["code"], r["id"]) if "type" in r else (r["sport"], r["dport"])
        ), f["name"]
        assert e.dnat is f["dnat"], f["name"]
        assert e.snat is f["snat"], f["name"]
        assert e.mark == f["mark"], f["name"]
        assert e.zone == f["zone"], f["name"]
        assert e.orig.zone == f["zone_orig"] and e.reply.zone is None, f["name"]
        assert e.state == f["state"], f["name"]
        assert e.unreplied is f["unreplied"], f["name"]
        if f["assured"] is not None:
            assert e.assured is f["assured"], f["name"]


def test_dnat_reply_source_is_the_backend() -> None:
    services = {(s["vip"], s["vport"], s["proto"]): s for s in MANIFEST["topology"]["services"]}
    dnat = [e for e in _entries("conntrack_L") if e.dnat]
    assert len(dnat) == sum(f["dnat"] for f in LISTED)
    for e in dnat:
        s = services[(e.orig.dst, e.orig.dport, e.proto)]
        assert (e.reply.src, e.reply.sport) == (s["backend"], s["bport"])


def test_masqueraded_flows_reply_to_the_node() -> None:
    to = MANIFEST["topology"]["masquerade"]["to"]
    snat = [e for e in _entries("conntrack_L") if e.snat]
    assert len(snat) == sum(f["snat"] for f in LISTED) > 0
    for e in snat:
        assert e.reply.dst == to[e.family.value]
        assert e.orig.dport == MANIFEST["topology"]["masquerade"]["dport"]


def test_no_other_flows_than_the_planned_ones() -> None:
    assert by_key(_entries("conntrack_L")).keys() == {flow_key(f) for f in LISTED}


def test_marks_and_zones_appear_only_where_the_rules_put_them() -> None:
    expected = {flow_key(f): (f["mark"], f["zone"], f["zone_orig"]) for f in LISTED}
    for k, e in by_key(_entries("conntrack_L")).items():
        assert (e.mark, e.zone, e.orig.zone) == expected[k], e
    assert {e.zone for e in _entries("conntrack_L")} == {0, 5}
    assert {e.mark for e in _entries("conntrack_L")} == {0, *MANIFEST["topology"]["marks"].values()}


@pytest.mark.parametrize("name", ALL_LISTINGS)
def test_accounting_counters_present(name: str) -> None:
    for e in _entries(name):
        assert e.orig.packets and e.orig.bytes, e  # > 0: every flow sent something
        if e.unreplied:
            assert (e.reply.packets, e.reply.bytes) == (0, 0), e
        else:
            assert e.reply.packets and e.reply.bytes, e


@pytest.mark.parametrize("name", ALL_LISTINGS)
def test_timestamps_give_delta_time(name: str) -> None:
    for e in _entries(name):
        assert e.delta_time is not None and 0 <= e.delta_time < 120, e
        assert e.timeout is not None and e.use is not None, e


def test_ipv6_addresses_come_out_compressed_everywhere() -> None:
    for name in ALL_LISTINGS:
        for e in _entries(name):
            for t in (e.orig, e.reply):
                for a in (t.src, t.dst):
                    assert a == str(ipaddress.ip_address(a)), (name, a)
                    assert (":" in a) is (e.family is Family.IPV6), (name, e)


def test_proc_and_conntrack_list_the_same_flows_with_the_same_fields() -> None:
    proc, ct = _entries("proc_net_nf_conntrack"), _entries("conntrack_L")
    assert_same_flows(proc, ct, "/proc vs conntrack -L")
    ct_by_key = by_key(ct)
    for e in proc:
        assert e.use == ct_by_key[entry_key(e)].use + 1  # /proc holds its own reference
        assert e.id is None and e.labels is None and e.start is None


def test_proc_ipv6_raw_text_is_uncompressed() -> None:
    """The capture really exercises the compression: /proc prints eight 4-digit groups."""
    assert "src=fd00:0123:0001:0000:0000:0000:0000:0002" in _read("proc_net_nf_conntrack").decode()


@pytest.mark.parametrize(
    "name",
    [
        "conntrack_L_extended",
        "conntrack_L_id",
        "conntrack_L_ktimestamp",
        "conntrack_L_extended_id_ktimestamp",
        "conntrack_L_labels",
    ],
)
def test_output_options_do_not_change_the_flows(name: str) -> None:
    assert_same_flows(_entries(name), _entries("conntrack_L"), f"{name} vs conntrack_L")


def test_extended_prefix_gives_the_family_inferred_without_it() -> None:
    raw = _data_lines(_read("conntrack_L_extended"))
    assert all(line.startswith(("ipv4     2 ", "ipv6     10 ")) for line in raw)
    for e in _entries("conntrack_L_extended"):
        assert (e.family is Family.IPV6) is (":" in e.orig.src)


@pytest.mark.parametrize("name", ["conntrack_L_id", "conntrack_L_extended_id_ktimestamp"])
def test_ids_present_and_distinct(name: str) -> None:
    ids = [e.id for e in _entries(name)]
    assert None not in ids and len(set(ids)) == len(ids)
    assert all(0 <= i < 2**32 for i in ids)  # type: ignore[operator]


def test_ids_agree_between_captures() -> None:
    a = {k: e.id for k, e in by_key(_entries("conntrack_L_id")).items()}
    b = {k: e.id for k, e in by_key(_entries("conntrack_L_extended_id_ktimestamp")).items()}
    assert a == b
    assert all(e.id is None for e in _entries("conntrack_L"))


@pytest.mark.parametrize("name", ["conntrack_L_ktimestamp", "conntrack_L_extended_id_ktimestamp"])
def test_ktimestamp_start_is_kept_verbatim(name: str) -> None:
    year = MANIFEST["environment"]["date_utc"][:4]
    for e in _entries(name):
        assert e.start is not None and e.stop is None, e
        assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}", e.start)
        assert e.start.endswith(year)
    assert all(e.start is None for e in _entries("conntrack_L"))


def test_family_filter_lists_exactly_the_ipv6_flows() -> None:
    v6 = [e for e in _entries("conntrack_L") if e.family is Family.IPV6]
    assert all(e.family is Family.IPV6 for e in _entries("conntrack_L_ipv6"))
    assert_same_flows(_entries("conntrack_L_ipv6"), v6, "-f ipv6 vs ipv6 part of -L")


def test_labels_by_name_and_the_bare_labels_token() -> None:
    labelled = by_key(_entries("conntrack_L_labels"))
    for f in LISTED:
        e = labelled[flow_key(f)]
        if f["labels"]:
            assert e.labels == tuple(f["labels"]), f["name"]
        elif f["unnamed_label_bits"]:
            # bits set, none named in the map: the library prints a bare `labels` token
            assert e.labels == (), (f["name"], e.labels, e.extra)
        else:
            assert e.labels is None, f["name"]
    assert all(e.labels is None for e in _entries("conntrack_L"))


@pytest.mark.parametrize("name", [*ALL_LISTINGS, "conntrack_L_merged"])
def test_strict_parse_accepts_real_captures(name: str) -> None:
    stream = "merged" if name.endswith("_merged") else "stdout"
    table = parse_listing(_read(name, stream), strict=True)
    assert len(table) == len(_table(name, stream))


@pytest.mark.parametrize("name", [*ALL_LISTINGS, "conntrack_L_merged"])
def test_fast_and_reference_paths_agree(name: str) -> None:
    """parse_listing has a C fast path; on real captures both paths must agree exactly."""
    if "use_fast" not in inspect.signature(parse_listing).parameters:
        pytest.skip("parse_listing has no use_fast switch")
    stream = "merged" if name.endswith("_merged") else "stdout"
    fast = parse_listing(_read(name, stream), use_fast=True)  # type: ignore[call-arg]
    slow = parse_listing(_read(name, stream), use_fast=False)  # type: ignore[call-arg]
    assert list(fast) == list(slow)
    assert fast.diagnostics.malformed == slow.diagnostics.malformed == ()
    assert fast.diagnostics.trailer == slow.diagnostics.trailer


def test_merged_capture_parses_to_the_same_entries() -> None:
    merged = parse_listing(_read("conntrack_L_merged", "merged"))
    assert merged.diagnostics.malformed == ()
    assert merged.diagnostics.trailer is not None
    assert merged.diagnostics.trailer.count == _stderr_trailer("conntrack_L")[1] == len(merged)
    assert_same_flows(merged, _entries("conntrack_L"), "2>&1 vs separate streams")


def test_delete_echo_and_its_trailer() -> None:
    (gone,) = [f for f in FLOWS if f["deleted"]]
    entries = _entries("conntrack_D")
    assert [entry_key(e) for e in entries] == [flow_key(gone)]
    assert _stderr_trailer("conntrack_D")[1:] == (1, "entries", "deleted")
    trailer = parse_listing(_read("conntrack_D", "stderr")).diagnostics.trailer
    assert trailer is not None and (trailer.count, trailer.verb) == (1, "deleted")
    assert flow_key(gone) not in by_key(_entries("conntrack_L"))


def test_entries_serialise_to_json() -> None:
    from ctdiag.parse.entry_json import entry_to_json

    for name in ALL_LISTINGS:
        for e in _entries(name):
            text = json.dumps(entry_to_json(e))
            assert e.orig.src in text and e.reply.dst in text


# --------------------------------------------------------------------------- events
@pytest.mark.parametrize("name", EVENT_CAPTURES)
def test_events_parse_with_kinds(name: str) -> None:
    events, diagnostics = _events(name)
    assert diagnostics.malformed == ()
    assert len(events) == len(_data_lines(_read(name))) == _stderr_trailer(name)[1]
    assert _stderr_trailer(name)[2:] == ("events", "shown")
    kinds = Counter(ev.kind for ev in events)
    assert set(kinds) == {EventType.NEW, EventType.UPDATE, EventType.DESTROY}
    event_flows = [f for f in FLOWS if f["phase"] == "events"]
    assert kinds[EventType.NEW] == len(event_flows)
    for ev in events:
        assert ev.entry.use is None, ev  # events never carry use=
        if ev.kind is EventType.NEW:
            assert ev.entry.unreplied and ev.entry.timeout is not None, ev


@pytest.mark.parametrize("name", EVENT_CAPTURES)
def test_event_tcp_states_and_marks(name: str) -> None:
    (tcp,) = [f for f in FLOWS if f["phase"] == "events" and f["proto"] == "tcp"]
    evs = [ev for ev in _events(name)[0] if entry_key(ev.entry) == flow_key(tcp)]
    states = [ev.entry.state for ev in evs]
    assert states[:3] == ["SYN_SENT", "SYN_RECV", "ESTABLISHED"], states
    assert states[-1] == "TIME_WAIT"
    assert all(ev.entry.mark == tcp["mark"] for ev in evs)
    assert all(ev.entry.reply.src == tcp["reply"]["src"] and ev.entry.dnat for ev in evs)


@pytest.mark.parametrize("name", EVENT_CAPTURES)
def test_destroy_by_conntrack_d_is_userspace(name: str) -> None:
    (gone,) = [f for f in FLOWS if f["deleted"]]
    (ev,) = [ev for ev in _events(name)[0] if ev.kind is EventType.DESTROY]
    assert entry_key(ev.entry) == flow_key(gone)
    assert "USERSPACE" in ev.entry.flags
    assert ev.portid is not None and ev.portid > 0
    assert ev.entry.orig.packets == gone["count"] and ev.entry.delta_time is not None


def test_event_timestamps() -> None:
    stamped, plain = _events("conntrack_E_timestamp")[0], _events("conntrack_E")[0]
    assert all(ev.timestamp is None for ev in plain)
    times = [ev.timestamp for ev in stamped]
    assert None not in times and times == sorted(times)  # type: ignore[type-var]
    started = CAPTURE_BY_NAME["conntrack_E_timestamp"]["started_utc"]
    from datetime import datetime

    t0 = datetime.fromisoformat(started).timestamp()
    assert all(t0 <= t <= t0 + 10 for t in times)  # type: ignore[operator]
    # the same events in both captures, apart from the prefix
    assert [(ev.kind, ev.entry, ev.portid) for ev in stamped] == [
        (ev.kind, ev.entry, ev.portid) for ev in plain
    ]


# --------------------------------------------------------------------------- counts and stats
def _int(name: str) -> int:
    return int(_read(name).decode().strip())


def test_counts_agree() -> None:
    n = _stderr_trailer("conntrack_L")[1]
    assert _int("conntrack_C") == _int("sysctl_nf_conntrack_count") == n
    header, *rows = _read("proc_net_stat_nf_conntrack").decode().splitlines()
    assert header.split()[0] == "entries"
    assert all(int(row.split()[0], 16) == n for row in rows)
    assert len(rows) == MANIFEST["environment"]["nproc"]


def test_stats_parsers_see_the_invalid_packets() -> None:
    stats = pytest.importorskip("ctdiag.parse.stats")
    want = MANIFEST["topology"]["expected_stats_at_least"]["invalid"]
    s7 = stats.parse_conntrack_stats(_read("conntrack_S").decode())
    s9 = stats.parse_proc_stat(_read("proc_net_stat_nf_conntrack").decode())
    assert s7.total("invalid") >= want
    assert s9.total("invalid") == s7.total("invalid")
