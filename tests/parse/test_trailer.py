"""Stripping conntrack-tools stderr (trailer, notices, warnings, errors) out of stdout."""

from __future__ import annotations

import time

import pytest

from ctdiag.model.entries import TrailerInfo
from ctdiag.parse.trailer import strip_stderr

LINE_A = b"udp      17 28 src=10.0.0.5 dst=192.0.2.53 sport=40312 dport=53 [UNREPLIED] " \
    b"src=192.0.2.53 dst=10.0.0.5 sport=53 dport=40312 mark=0 use=1\n"  # fmt: skip
LINE_B = b"icmp     1 29 src=10.0.0.5 dst=192.0.2.1 type=8 code=0 id=3110 " \
    b"src=192.0.2.1 dst=10.0.0.5 type=0 code=0 id=3110 mark=0 use=1\n"  # fmt: skip
TRAILER = b"conntrack v1.4.8 (conntrack-tools): 13 flow entries have been shown.\n"


def test_clean_input_is_returned_unchanged() -> None:
    data = LINE_A + LINE_B
    out = strip_stderr(data)
    assert out.text is data
    assert out.trailers == () and out.notices == () and out.trailer is None


def test_trailer_on_its_own_line() -> None:
    out = strip_stderr(LINE_A + LINE_B + TRAILER)
    assert out.text == LINE_A + LINE_B + b"\n"
    assert out.trailer == TrailerInfo(version="1.4.8", count=13, verb="shown")
    assert out.flow_count == 13
    (t,) = out.trailers
    assert (t.noun, t.line_no, t.mid_line, t.counts_flows) == ("flow entries", 3, False, True)
    assert out.notices == ()


def test_trailer_first_keeps_line_numbers() -> None:
    out = strip_stderr(TRAILER + LINE_A)
    assert out.text.split(b"\n") == [b"", LINE_A.rstrip(b"\n"), b""]
    assert out.trailers[0].line_no == 1


@pytest.mark.parametrize("cut", [1, 20, 57, len(LINE_A) - 2, len(LINE_A) - 1])
def test_trailer_inside_a_line_is_cut_out_and_the_line_joined(cut: int) -> None:
    data = LINE_B + LINE_A[:cut] + TRAILER + LINE_A[cut:] + LINE_B
    out = strip_stderr(data)
    # The interrupted line is whole again, and a blank line after it keeps the numbering.
    assert out.text.split(b"\n") == [
        LINE_B[:-1], LINE_A[:-1], b"", LINE_B[:-1], b""
    ]  # fmt: skip
    (t,) = out.trailers
    assert t.mid_line and t.line_no == 2 and t.info.count == 13
    assert out.notices == (
        "stderr text removed from inside line 2: "
        "conntrack v1.4.8 (conntrack-tools): 13 flow entries have been shown.",
    )


def test_trailer_right_before_the_newline_of_a_line() -> None:
    data = LINE_A[:-1] + TRAILER + b"\n" + LINE_B
    assert strip_stderr(data).text == LINE_A + b"\n" + LINE_B


def test_trailer_at_end_without_newline() -> None:
    out = strip_stderr(LINE_A + TRAILER[:-1])
    assert out.text == LINE_A
    assert out.trailer is not None and out.trailer.count == 13


@pytest.mark.parametrize(
    ("message", "count", "verb", "noun"),
    [
        (b"1 flow entry has been shown.", 1, "shown", "flow entry"),
        (b"0 flow entries have been shown.", 0, "shown", "flow entries"),
        (b"7 flow entries has been shown.", 7, "shown", "flow entries"),
        (b"3 flow entries have been deleted.", 3, "deleted", "flow entries"),
        (b"2 flow entries have been updated.", 2, "updated", "flow entries"),
        (b"1 flow entry has been created.", 1, "created", "flow entry"),
        (b"4 flow entries have been added.", 4, "added", "flow entries"),
        (b"120 flow events have been shown.", 120, "shown", "flow events"),
        (b"5 expectations have been shown.", 5, "shown", "expectations"),
    ],
)
def test_trailer_variants(message: bytes, count: int, verb: str, noun: str) -> None:
    out = strip_stderr(LINE_A + b"conntrack v0.9.12 (conntrack-tools): " + message + b"\n")
    assert out.text == LINE_A + b"\n"
    (t,) = out.trailers
    assert (t.info.version, t.info.count, t.info.verb, t.noun) == ("0.9.12", count, verb, noun)
    assert t.counts_flows is (noun != "expectations")


def test_error_lines_become_notices() -> None:
    err = b"conntrack v1.4.8 (conntrack-tools): Operation failed: such conntrack doesn't exist\n"
    hint = b"Try `conntrack -h' or 'conntrack --help' for more information.\n"
    out = strip_stderr(err + hint)
    assert out.text == b"\n\n"
    assert out.trailers == () and out.trailer is None
    assert out.notices == (
        "conntrack v1.4.8 (conntrack-tools): Operation failed: such conntrack doesn't exist",
        "Try `conntrack -h' or 'conntrack --help' for more information.",
    )


def test_notice_and_enobufs_warning() -> None:
    data = (
        b"NOTICE: Netlink socket buffer size has been set to 8388608 bytes.\n" + LINE_A
        + b"WARNING: We have hit ENOBUFS! We are losing events.\n"
        b"This message means that the current netlink socket buffer size is too small.\n"
        b"Please, check --buffer-size in conntrack(8) manpage.\n" + LINE_B
        + b"conntrack v1.4.8 (conntrack-tools): 2 flow events have been shown.\n"
    )  # fmt: skip
    out = strip_stderr(data)
    assert out.text == b"\n" + LINE_A + b"\n\n\n" + LINE_B + b"\n"
    assert out.notices[0].startswith("NOTICE: Netlink socket buffer size")
    assert out.notices[1] == "WARNING: We have hit ENOBUFS! We are losing events."
    assert len(out.notices) == 4
    assert out.flow_count == 2


def test_warning_text_inside_a_flow_line_is_not_stripped() -> None:
    line = LINE_A[:-1] + b" progname=WARNING: x\n"
    assert strip_stderr(line).text is line


def test_str_input_and_several_trailers() -> None:
    text = (LINE_A + TRAILER + LINE_B + TRAILER.replace(b"13", b"1")).decode()
    out = strip_stderr(text)
    assert out.text == LINE_A + b"\n" + LINE_B + b"\n"
    assert [t.info.count for t in out.trailers] == [13, 1]
    assert out.flow_count == 14 and out.trailer is not None and out.trailer.count == 1


def test_two_trailers_inside_one_line() -> None:
    data = LINE_A[:10] + TRAILER + LINE_A[10:30] + TRAILER + LINE_A[30:] + LINE_B
    out = strip_stderr(data)
    assert out.text == LINE_A + b"\n\n" + LINE_B
    assert len(out.trailers) == 2


def test_lines_that_only_look_blank_stay_and_keep_the_numbering() -> None:
    # Not stderr: they stay for the listing parser to count as malformed lines.
    looks_blank = "\xa0\n\u3000\u2003\n\ufeff\n".encode()
    out = strip_stderr(LINE_A + looks_blank + TRAILER + LINE_B)
    assert out.text == LINE_A + looks_blank + b"\n" + LINE_B
    assert out.trailers[0].line_no == 5 and out.flow_count == 13


def test_a_trailer_spaced_with_unicode_whitespace_is_not_a_trailer() -> None:
    # conntrack prints ASCII spaces; anything else is text, not its stderr (kept, never lost).
    odd = TRAILER.replace(b" 13 ", " 13\u00a0".encode())
    out = strip_stderr(LINE_A + odd)
    assert out.trailers == () and out.flow_count is None
    assert out.notices == (odd.rstrip(b"\n").decode(),)  # an error line of the tool
    nbsp_tag = TRAILER.replace(b"v1.4.8 (", "v1.4.8\u00a0(".encode())
    assert strip_stderr(LINE_A + nbsp_tag).text == LINE_A + nbsp_tag


def test_large_input_is_fast() -> None:
    body = (LINE_A + LINE_B) * 200_000  # ~36 MB
    data = body + TRAILER
    start = time.perf_counter()
    out = strip_stderr(data)
    elapsed = time.perf_counter() - start
    assert len(out.text) == len(body) + 1
    assert elapsed < 2.0  # one memchr-speed scan plus one copy; ~0.05 s in practice
    clean = time.perf_counter()
    assert strip_stderr(body).text is body
    assert time.perf_counter() - clean < 1.0
