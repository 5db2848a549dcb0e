"""Whole captures: listings, /proc, events, stderr mixed in, malformed and truncated lines."""

from __future__ import annotations

import pytest

from ctdiag.errors import ParseError
from ctdiag.model.entries import EventType, ParseDiagnostics, TrailerInfo
from ctdiag.parse import fast
from ctdiag.parse.entries import parse_entry_line, parse_event_line
from ctdiag.parse.listing import looks_like_events, parse_events, parse_listing
from tests.parse.test_entries import EVENT_EXAMPLES, F1_EXAMPLES, F8_EXAMPLES, L_EXTENDED

LISTING = "\n".join([*F1_EXAMPLES, L_EXTENDED]) + "\n"
TRAILER = "conntrack v1.4.8 (conntrack-tools): 14 flow entries have been shown.\n"
BAD = "tcp      6 1 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2"


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def use_fast(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_listing_entries_and_lines(use_fast: bool) -> None:
    table = parse_listing(LISTING.encode(), use_fast=use_fast)
    expected = [parse_entry_line(line) for line in [*F1_EXAMPLES, L_EXTENDED]]
    assert list(table) == expected
    assert table.columns["line"].tolist() == list(range(1, 15))
    d = table.diagnostics
    assert (d.malformed, d.trailer, d.notices, d.lines_read) == ((), None, (), 14)


def test_proc_listing(use_fast: bool) -> None:
    table = parse_listing("\n".join(F8_EXAMPLES) + "\n", use_fast=use_fast)
    assert list(table) == [parse_entry_line(line) for line in F8_EXAMPLES]
    assert len(table) == 6


def test_str_and_bytes_agree() -> None:
    assert list(parse_listing(LISTING)) == list(parse_listing(LISTING.encode()))


def test_trailer_count_matches(use_fast: bool) -> None:
    table = parse_listing(LISTING + TRAILER, use_fast=use_fast)
    assert len(table) == 14
    assert table.diagnostics.trailer == TrailerInfo("1.4.8", 14, "shown")
    assert table.diagnostics.notices == ()


@pytest.mark.parametrize(
    ("said", "missing", "notices"),
    [
        (14, 0, ()),
        (16, 2, ("trailer says 16 flow entries, 14 were read",)),  # lines lost: malformed input
        (12, 0, ("trailer says 12 flow entries, 14 were read",)),  # more read: nothing lost
    ],
)
def test_trailer_count_in_the_diagnostics(
    said: int, missing: int, notices: tuple[str, ...], use_fast: bool
) -> None:
    d = parse_listing(LISTING + TRAILER.replace("14", str(said)), use_fast=use_fast).diagnostics
    assert (d.trailer_count, d.lines_read, d.missing, d.notices) == (said, 14, missing, notices)
    assert d.count_mismatch is (said != 14)


def test_no_trailer_no_count() -> None:
    d = parse_listing(LISTING).diagnostics
    assert (d.trailer_count, d.count_mismatch, d.missing) == (None, False, 0)
    assert ParseDiagnostics(lines_read=3).missing == 0


def test_joined_captures_sum_their_trailers() -> None:
    half = TRAILER.replace("14", "7")
    lines = LISTING.splitlines(keepends=True)
    d = parse_listing("".join(lines[:7]) + half + "".join(lines[7:]) + half).diagnostics
    assert (d.trailer_count, d.missing, d.notices) == (14, 0, ())
    d = parse_listing("".join(lines[:7]) + half + "".join(lines[7:11]) + half).diagnostics
    assert (d.trailer_count, d.lines_read, d.missing) == (14, 11, 3)


def test_trailer_inside_a_line_with_count_check(use_fast: bool) -> None:
    lines = [*F1_EXAMPLES, L_EXTENDED]
    victim = lines[9]
    cut = victim.index("dport=22") + 4
    raw = "\n".join(lines[:9]) + "\n" + victim[:cut] + TRAILER + victim[cut:] + "\n"
    raw += "\n".join(lines[10:]) + "\n"
    table = parse_listing(raw.encode(), use_fast=use_fast)
    assert list(table) == [parse_entry_line(line) for line in lines]
    # Numbering is the raw capture's: the joined line keeps 10, the next flow is on 12.
    assert table.columns["line"].tolist() == [*range(1, 11), *range(12, 16)]
    d = table.diagnostics
    assert d.malformed == () and d.trailer is not None and d.trailer.count == 14
    assert d.notices == (
        "stderr text removed from inside line 10: "
        "conntrack v1.4.8 (conntrack-tools): 14 flow entries have been shown.",
    )


def test_mid_line_trailer_mismatch_counts_malformed_lines_too() -> None:
    raw = F1_EXAMPLES[0][:30] + TRAILER.replace("14", "3") + F1_EXAMPLES[0][30:] + "\n"
    raw += BAD + "\n" + F1_EXAMPLES[1] + "\n"
    d = parse_listing(raw).diagnostics
    assert len(d.malformed) == 1 and d.lines_read == 3
    assert not any(n.startswith("trailer says") for n in d.notices)
    d2 = parse_listing(raw.replace("): 3 flow", "): 13 flow")).diagnostics
    assert "trailer says 13 flow entries, 3 were read (1 of them malformed)" in d2.notices
    assert (d2.trailer_count, d2.missing) == (13, 10)


def test_lenient_keeps_malformed_lines(use_fast: bool) -> None:
    raw = F1_EXAMPLES[0] + "\n" + BAD + "\n\n" + "garbage here\n" + F1_EXAMPLES[1] + "\n"
    table = parse_listing(raw, use_fast=use_fast)
    assert len(table) == 2
    assert table.columns["line"].tolist() == [1, 5]
    (m1, m2) = table.diagnostics.malformed
    assert (m1.line_no, m1.text, m1.truncated) == (2, BAD, False)
    assert "missing reply tuple" in m1.reason
    assert (m2.line_no, m2.text) == (4, "garbage here")
    assert not table.diagnostics.truncated
    assert table.diagnostics.lines_read == 4


def test_strict_raises_first_error() -> None:
    raw = F1_EXAMPLES[0] + "\n" + BAD + "\n" + "garbage\n"
    with pytest.raises(ParseError) as info:
        parse_listing(raw, strict=True, use_fast=False)
    assert info.value.line_no == 2 and "missing reply tuple" in info.value.reason


@pytest.mark.parametrize("cut", [15, 60, 120, -6])
def test_truncated_last_line(cut: int, use_fast: bool) -> None:
    raw = F1_EXAMPLES[0] + "\n" + F1_EXAMPLES[2][:cut]
    table = parse_listing(raw, use_fast=use_fast)
    assert len(table) == 1
    (m,) = table.diagnostics.malformed
    assert m.truncated and m.line_no == 2 and m.text == F1_EXAMPLES[2][:cut]
    assert m.reason.startswith("truncated last line")
    assert table.diagnostics.truncated
    with pytest.raises(ParseError, match="truncated last line"):
        parse_listing(raw, strict=True)


def test_complete_last_line_without_newline_is_accepted() -> None:
    table = parse_listing(F1_EXAMPLES[0] + "\n" + F1_EXAMPLES[1])
    assert len(table) == 2 and table.diagnostics.malformed == ()


def test_blank_input() -> None:
    table = parse_listing(b"")
    assert len(table) == 0 and table.diagnostics.lines_read == 0
    empty = parse_listing("conntrack v1.4.8 (conntrack-tools): 0 flow entries have been shown.\n")
    assert len(empty) == 0 and empty.diagnostics.notices == ()


def test_xml_is_refused() -> None:
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n<flow></flow>\n</conntrack>\n'
    with pytest.raises(ParseError, match=r"XML output .* not supported"):
        parse_listing(xml)
    with pytest.raises(ParseError, match="-o xml"):
        parse_listing('\n  <flow type="new"></flow>\n')


def test_save_format_is_refused() -> None:
    with pytest.raises(ParseError, match="-o save output is not supported"):
        parse_listing("-A -t 30 -u SEEN_REPLY -s 10.0.0.1 -d 10.0.0.2 -p udp\n")


def test_events_as_table_entries(use_fast: bool) -> None:
    table = parse_listing("\n".join(EVENT_EXAMPLES) + "\n", use_fast=use_fast)
    assert list(table) == [parse_event_line(line).entry for line in EVENT_EXAMPLES]


def test_parse_events_keeps_event_fields() -> None:
    raw = (
        "NOTICE: Netlink socket buffer size has been set to 8388608 bytes.\n"
        + "\n".join(EVENT_EXAMPLES) + "\n"
        + "WARNING: We have hit ENOBUFS! We are losing events.\n"
        + "conntrack v1.4.8 (conntrack-tools): 6 flow events have been shown.\n"
    )  # fmt: skip
    events, diag = parse_events(raw)
    assert [e.kind for e in events] == [
        EventType.NEW, EventType.UPDATE, EventType.UPDATE, EventType.DESTROY,
        EventType.DESTROY, EventType.NEW,
    ]  # fmt: skip
    assert (events[4].portid, events[4].progname) == (5146, "conntrack")
    assert events[5].timestamp == pytest.approx(1738934112.123456)
    assert diag.trailer == TrailerInfo("1.4.8", 6, "shown")
    assert diag.notices[0].startswith("NOTICE:") and len(diag.notices) == 2
    assert diag.lines_read == 6 and diag.malformed == ()


def test_parse_events_malformed_and_count() -> None:
    raw = EVENT_EXAMPLES[0] + "\n[NEW] nonsense\n"
    raw += "conntrack v1.4.8 (conntrack-tools): 3 flow events have been shown.\n"
    events, diag = parse_events(raw)
    assert len(events) == 1
    assert diag.malformed[0].line_no == 2
    assert "trailer says 3 flow events, 2 were read (1 of them malformed)" in diag.notices
    assert (diag.trailer_count, diag.missing) == (3, 1)
    with pytest.raises(ParseError):
        parse_events(raw, strict=True)


def test_expectation_trailer_is_not_cross_checked() -> None:
    d = parse_listing("conntrack v1.4.8 (conntrack-tools): 2 expectations have been shown.\n")
    assert d.diagnostics.notices == (
        "the trailer counts expectations, not flows; count not checked",
    )


def test_unknown_tokens_survive_the_table(use_fast: bool) -> None:
    line = F1_EXAMPLES[0] + " [FUTURE] newkey=1"
    table = parse_listing(line + "\n", use_fast=use_fast)
    assert table.entry(0).extra == ("[FUTURE]", "newkey=1")


# --- blank lines and lines that only look blank -------------------------------------------

GOOD = F1_EXAMPLES[0]
LOOK_BLANK = ["\xa0", "\u2003\u3000", "\ufeff", "\u200b", " \u3000\t"]
LOOK_BLANK_CAPTURE = "\n".join([GOOD, *LOOK_BLANK, "  \t", "", "\r", GOOD]) + "\n"


def test_lines_that_only_look_blank_are_malformed_never_dropped(use_fast: bool) -> None:
    table = parse_listing(LOOK_BLANK_CAPTURE.encode(), use_fast=use_fast)
    assert table.columns["line"].tolist() == [1, 10]
    d = table.diagnostics
    assert [(m.line_no, m.text) for m in d.malformed] == list(enumerate(LOOK_BLANK, 2))
    assert all(m.reason.startswith("no conntrack fields, only whitespace") for m in d.malformed)
    assert "U+3000 IDEOGRAPHIC SPACE" in d.malformed[1].reason
    assert d.lines_read == 7  # ASCII-blank lines 7 to 9 are blank: skipped, not read


def test_fast_path_and_reference_agree_on_lines_that_look_blank() -> None:
    data = (LOOK_BLANK_CAPTURE + TRAILER.replace("14", "9")).encode()
    fast_table = parse_listing(data, use_fast=True)
    reference = parse_listing(data, use_fast=False)
    assert list(fast_table) == list(reference)
    assert fast_table.diagnostics == reference.diagnostics
    assert fast_table.diagnostics.missing == 2
    if fast.AVAILABLE:  # the C code declines them; the reference judges them
        table, declined = fast.parse_lines_fast(LOOK_BLANK_CAPTURE.encode())
        assert [n for n, _ in declined] == [2, 3, 4, 5, 6] and len(table) == 2


def test_a_last_line_that_only_looks_blank_is_a_truncated_line(use_fast: bool) -> None:
    d = parse_listing(f"{GOOD}\n\u3000".encode(), use_fast=use_fast).diagnostics
    (m,) = d.malformed
    assert (m.line_no, m.text, m.truncated) == (2, "\u3000", True)
    assert m.reason.startswith("truncated last line (no newline): no conntrack fields")
    assert parse_listing(f"{GOOD}\n \t\r".encode(), use_fast=use_fast).diagnostics.malformed == ()


def test_events_with_lines_that_only_look_blank() -> None:
    raw = EVENT_EXAMPLES[0] + "\n\xa0\n\n" + EVENT_EXAMPLES[1] + "\n"
    assert looks_like_events("\u3000\n" + raw)  # the format is judged by the first flow line
    events, d = parse_events(raw)
    assert len(events) == 2 and [m.line_no for m in d.malformed] == [2]
    assert d.malformed[0].reason.startswith("no conntrack fields") and d.lines_read == 3
