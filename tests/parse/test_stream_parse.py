"""The streaming listing parser gives exactly what parse_listing gives on the whole capture.

Exactly: same columns (dtypes and values, codes of absent values included), dictionaries in
the same order, overflow rows and diagnostics, for any cut of the input into chunks (mid-line,
one byte at a time) and any block size. Also: the collector wiring (a runner that streams,
one that cannot) and LocalRunner.run_streaming on real processes.
"""

from __future__ import annotations

import ipaddress
import random
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctdiag.analyze.node_state import NodeState
from ctdiag.collect.collector import collect_sample
from ctdiag.collect.runners import LocalRunner, StdoutConsumer, StreamingRunner
from ctdiag.collect.streaming import BackgroundListingParse
from ctdiag.errors import CollectionError, ParseError
from ctdiag.model.outputs import CommandOutput
from ctdiag.model.table import ConntrackTable
from ctdiag.parse import fast
from ctdiag.parse.listing import listing_text, parse_listing
from ctdiag.parse.listing_stream import ListingStreamParser, join_fast_tables
from ctdiag.parse.render import render_conntrack_line, render_proc_line
from tests.parse.test_listing import BAD, LISTING, TRAILER
from tests.paths import CAPTURES
from tests.strategies import entries

GOOD = LISTING.splitlines()[0]
NO_USE = "ipv4     2 udp      17 25 src=10.0.0.1 dst=10.0.0.2 sport=5 dport=53 [UNREPLIED] " + (
    "src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5 mark=0"
)
UDP_USE = NO_USE + " use=1"
NOTICE = "NOTICE: Ignoring unknown option\n"


def assert_identical(got: ConntrackTable, expected: ConntrackTable) -> None:
    assert got.dictionaries == expected.dictionaries
    assert list(got.columns) == list(expected.columns)
    for name, column in expected.columns.items():
        assert got.columns[name].dtype == column.dtype, name
        assert np.array_equal(got.columns[name], column), name
    assert got.overflow == expected.overflow
    assert got.diagnostics == expected.diagnostics


def cuts(data: bytes, sizes: Iterator[int]) -> list[bytes]:
    chunks, pos = [], 0
    while pos < len(data):
        size = next(sizes)
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


def streamed(chunks: Sequence[bytes], *, block_size: int, use_fast: bool = True) -> ConntrackTable:
    parser = ListingStreamParser(block_size=block_size, use_fast=use_fast)
    for chunk in chunks:
        parser.feed(chunk)
    return parser.finish()


def assert_streams_like_whole(data: bytes, *, use_fast: bool = True, seed: int = 0) -> None:
    """Every chunking and block size of ``data`` parses to parse_listing's table."""
    expected = parse_listing(data, use_fast=use_fast)
    rng = random.Random(seed)
    chunkings = {
        "whole": iter(lambda: len(data) or 1, None),
        "one byte": iter(lambda: 1, None),
        "random": iter(lambda: rng.randint(1, 200), None),
    }
    for label, sizes in chunkings.items():
        chunks = cuts(data, sizes)
        for block_size in (1, 2, 7, 64, 1 << 20):
            got = streamed(chunks, block_size=block_size, use_fast=use_fast)
            try:
                assert_identical(got, expected)
            except AssertionError as err:
                raise AssertionError(f"{label} chunks, block_size {block_size}: {err}") from err


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def use_fast(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# --- Real captures, as collection feeds them (stdout, then stderr) -------------------------


def capture(name: str) -> bytes:
    stdout = (CAPTURES / f"{name}.stdout").read_bytes()
    stderr_path = CAPTURES / f"{name}.stderr"
    stderr = stderr_path.read_bytes() if stderr_path.exists() else b""
    output = CommandOutput(name="entries", argv=("conntrack", "-L"), exit_status=0,
                           stdout=stdout, stderr=stderr, started_at=datetime.now(UTC),
                           duration_s=0.0)  # fmt: skip
    return listing_text(output)


@pytest.mark.parametrize(
    "name",
    sorted(
        p.stem
        for p in CAPTURES.glob("*.stdout")
        if p.name.startswith(("conntrack_L", "conntrack_E", "proc_net_nf"))
    ),
)
def test_real_captures(name: str, use_fast: bool) -> None:
    assert_streams_like_whole(capture(name), use_fast=use_fast)


def test_capture_with_trailer_inside_a_line() -> None:
    data = (CAPTURES / "conntrack_L_merged.out").read_bytes()
    assert parse_listing(data).diagnostics.trailer is not None
    assert_streams_like_whole(data)


# --- Malformed, truncated, stderr, refused ---------------------------------------------------


def test_malformed_lines_keep_their_line_numbers(use_fast: bool) -> None:
    lines = [GOOD, BAD, "", GOOD, "   ", BAD, GOOD, "garbage", *[GOOD] * 20, BAD]
    data = ("\n".join(lines) + "\n").encode()
    table = streamed(cuts(data, iter(lambda: 3, None)), block_size=5, use_fast=use_fast)
    assert [m.line_no for m in table.diagnostics.malformed] == [2, 6, 8, 29]
    assert table.columns["line"].tolist() == [1, 4, 7, *range(9, 29)]
    assert_streams_like_whole(data, use_fast=use_fast)


@pytest.mark.parametrize("cut", [1, 15, 60, 120, -6])
def test_truncated_last_line(cut: int, use_fast: bool) -> None:
    data = (LISTING + LISTING.splitlines()[3][:cut]).encode()
    table = streamed([data], block_size=1, use_fast=use_fast)
    assert table.diagnostics.truncated
    assert_streams_like_whole(data, use_fast=use_fast)


def test_complete_last_line_without_newline() -> None:
    assert_streams_like_whole((LISTING + GOOD).encode())


def test_lines_without_use_at_every_block_end() -> None:
    """The fast path declines a last line without use=; a block's last line is not last."""
    data = ("\n".join([NO_USE, UDP_USE, NO_USE, NO_USE, GOOD, NO_USE, "", NO_USE]) + "\n").encode()
    expected = parse_listing(data)
    assert len(expected) == 7 and not expected.diagnostics.malformed
    assert_streams_like_whole(data)
    assert_streams_like_whole(data[:-1])  # the unterminated last line is judged as truncated


def test_stderr_in_the_stream(use_fast: bool) -> None:
    victim = LISTING.splitlines()[5]
    mid = victim[:40] + TRAILER + victim[40:] + "\n"
    data = (NOTICE + LISTING + mid + LISTING + NOTICE + TRAILER).encode()
    notices = parse_listing(data).diagnostics.notices
    assert any("inside line" in n for n in notices)
    assert_streams_like_whole(data, use_fast=use_fast)
    assert_streams_like_whole((LISTING * 3 + TRAILER).encode(), use_fast=use_fast)


def test_blank_and_empty_input() -> None:
    assert_streams_like_whole(b"")
    assert_streams_like_whole(b"\n\n  \n\t\n")
    assert len(ListingStreamParser().finish()) == 0


def test_lines_that_only_look_blank_stream_like_whole(use_fast: bool) -> None:
    # Cut anywhere, also inside a multi-byte character: counted as malformed in every chunking.
    lines = [GOOD, "\xa0", "", "\u3000\u2003", GOOD, "\ufeff", " \t", "\u200b", GOOD]
    data = ("\n".join(lines) + "\n").encode()
    table = streamed(cuts(data, iter(lambda: 1, None)), block_size=3, use_fast=use_fast)
    assert [m.line_no for m in table.diagnostics.malformed] == [2, 4, 6, 8]
    assert table.diagnostics.lines_read == 7
    assert_streams_like_whole(data, use_fast=use_fast)
    assert_streams_like_whole(data + "\u3000".encode(), use_fast=use_fast)  # a truncated last


@pytest.mark.parametrize("said", [13, 14, 15])
def test_trailer_count_streams_like_whole(said: int, use_fast: bool) -> None:
    data = (LISTING + TRAILER.replace("14", str(said))).encode()
    table = streamed(cuts(data, iter(lambda: 50, None)), block_size=64, use_fast=use_fast)
    d = table.diagnostics
    assert (d.trailer_count, d.lines_read, d.missing) == (said, 14, max(said - 14, 0))
    assert_streams_like_whole(data, use_fast=use_fast)


@pytest.mark.parametrize(
    "head", [b"<?xml version='1.0'?>\n<conntrack>\n", b"-A -t 10 -s 1.2.3.4\n"]
)
def test_unsupported_formats_are_refused_at_finish(head: bytes) -> None:
    with pytest.raises(ParseError) as whole:
        parse_listing(b"\n \n" + head + LISTING.encode())
    parser = ListingStreamParser(block_size=1)
    for chunk in cuts(b"\n \n" + head + LISTING.encode(), iter(lambda: 2, None)):
        parser.feed(chunk)  # never raises
    with pytest.raises(ParseError) as streamed_error:
        parser.finish()
    assert str(streamed_error.value) == str(whole.value)


def test_blocks_are_parsed_before_finish() -> None:
    parser = ListingStreamParser(block_size=1000)
    data = (LISTING * 50).encode()
    for chunk in cuts(data, iter(lambda: 4096, None)):
        parser.feed(chunk)
    assert parser.blocks >= len(data) // 4096 - 1
    assert_identical(parser.finish(), parse_listing(data))
    with pytest.raises(RuntimeError):
        parser.finish()


def test_ipv6_written_two_ways_shares_codes_across_blocks() -> None:
    flows = list(parse_listing(capture("conntrack_L_ipv6")))
    assert any(":" in flow.orig.src for flow in flows)
    lines = [render(flow) for flow in flows for render in (render_proc_line, render_conntrack_line)]
    data = ("\n".join(lines) + "\n").encode()
    assert b"2001:0db8:" in data or b":0000:" in data  # the /proc lines are exploded
    assert_streams_like_whole(data)


def test_high_cardinality_dual_stack_streams_like_whole() -> None:
    """Thousands of distinct addresses per block, IPv6 exploded (/proc) and compressed
    (conntrack -L) in turn, a declined line here and there: the blocks share one address
    dictionary, so the joined table must number them as one parse of the whole does."""
    rng = random.Random(4)
    v6 = [rng.randrange(2**128) >> rng.choice((0, 64, 96)) for _ in range(3000)]
    lines = []
    for k in range(6000):
        if k % 2:
            a, b = (ipaddress.IPv6Address(rng.choice(v6)) for _ in range(2))
            spell = (lambda x: x.exploded) if k % 4 == 1 else str
            lines.append(f"ipv6     10 udp      17 25 src={spell(a)} dst={spell(b)} sport=5 "
                         f"dport=53 src={spell(b)} dst={spell(a)} sport=53 dport=5 mark=0 "
                         "zone=0 use=2")  # fmt: skip
        else:
            lines.append(GOOD.replace("10.0.0.1", f"10.{k % 250}.{rng.randrange(256)}.9"))
        if k % 997 == 0:
            lines.append(NO_USE.replace("src=10.0.0.1", "src=10.0.0.1 foo=bar", 1))
    data = ("\n".join(lines) + "\n").encode()
    expected = parse_listing(data)
    assert len(expected.dictionaries["addresses"]) > 2000
    for block_size in (4096, 60_000):
        parser = ListingStreamParser(block_size=block_size)
        for chunk in cuts(data, iter(lambda: 7777, None)):
            parser.feed(chunk)
        assert parser.blocks > 3
        assert_identical(parser.finish(), expected)


def test_join_equals_one_call_on_the_concatenation() -> None:
    first = (GOOD + "\n" + UDP_USE + "\n").encode()
    second = (UDP_USE.replace("10.0.0.2", "10.9.9.9") + "\n" + GOOD + "\n").encode()
    one, _ = fast.parse_lines_fast(first + second)
    a, _ = fast.parse_lines_fast(first)
    b, _ = fast.parse_lines_fast(second, 3)
    joined = join_fast_tables([a, b])
    assert joined.dictionaries == one.dictionaries
    for name, column in one.columns.items():
        assert np.array_equal(joined.columns[name], column), name


# --- Hypothesis: random listings, random cuts --------------------------------------------

LINE_KINDS = st.one_of(
    entries().map(render_proc_line),
    entries().map(render_conntrack_line),
    entries().map(lambda e: render_conntrack_line(e, extended=True, with_id=True)),
    st.sampled_from([GOOD, UDP_USE, NO_USE, BAD, "", "  ", "garbage", NOTICE.rstrip("\n")]),
    st.text(alphabet="abc= [].:0123456789\t\x0b\u00e9", max_size=30),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(LINE_KINDS, max_size=12),
    st.booleans(),
    st.sampled_from([b"", TRAILER.encode()]),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
    st.integers(1, 300),
)
def test_random_listings_any_cut(
    lines: list[str], newline: bool, stderr: bytes, sizes: list[int], block_size: int
) -> None:
    data = "\n".join(lines).encode() + (b"\n" if newline and lines else b"") + stderr
    try:
        expected = parse_listing(data)
    except ParseError:
        return  # a random line that looks like -o save or XML: refused either way
    chunks = cuts(data, iter(sizes * (len(data) + 1)))
    assert_identical(streamed(chunks, block_size=block_size), expected)


# --- Collection: the streamed table is the table of the stored outputs -------------------


class FakeNode:
    """Answers the plan from canned outputs; streams the listing in 1000-byte pieces."""

    node = "fake"

    def __init__(self, listing: bytes, *, can_stream: bool) -> None:
        self.listing = listing
        self.streamed = False
        if can_stream:
            self.run_streaming = self._run_streaming

    def run(self, name: str, argv: Sequence[str], *, timeout: float) -> CommandOutput:
        stdout = {
            "conntrack_version": b"conntrack v1.4.7 (conntrack-tools)\n",
            "uname": b"6.1.0\n",
            "entries": self.listing,
        }.get(name, b"")
        stderr = b"conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.\n"
        return CommandOutput(name=name, argv=tuple(argv), exit_status=0, stdout=stdout,
                             stderr=stderr if name == "entries" else b"",
                             started_at=datetime.now(UTC), duration_s=0.0)  # fmt: skip

    def _run_streaming(
        self, name: str, argv: Sequence[str], *, timeout: float, on_stdout: StdoutConsumer
    ) -> CommandOutput:
        self.streamed = True
        output = self.run(name, argv, timeout=timeout)
        for chunk in cuts(output.stdout, iter(lambda: 1000, None)):
            on_stdout(chunk)
        return output


@pytest.mark.parametrize("can_stream", [True, False])
def test_collect_sample_parses_the_listing_it_stores(can_stream: bool) -> None:
    listing = (LISTING * 200 + GOOD[:30]).encode()  # ends mid-line
    node = FakeNode(listing, can_stream=can_stream)
    assert isinstance(node, StreamingRunner) is can_stream
    sample = collect_sample(node, window_s=0)
    assert node.streamed is can_stream
    assert (sample.table is not None) is can_stream
    assert sample.before.require("entries").stdout == listing  # raw bytes kept as read
    fresh = NodeState(type(sample)(sample.before))  # as if loaded from disk
    assert fresh.sample.table is None
    if sample.table is not None:
        assert_identical(NodeState(sample).table, fresh.table)
    assert [m.line_no for m in fresh.table.diagnostics.malformed] == [2801]


def test_background_parse_reports_refused_input_in_finish() -> None:
    with BackgroundListingParse() as background:
        background.feed(b"<?xml version='1.0'?>\n")
        with pytest.raises(ParseError):
            background.finish()


# --- LocalRunner.run_streaming on real processes ------------------------------------------


def test_run_streaming_hands_over_every_byte_in_order() -> None:
    script = "import sys\nfor i in range(20000): sys.stdout.write(f'line {i}\\n')\n"
    script += "sys.stderr.write('done\\n')\n"
    argv = [sys.executable, "-c", script]
    seen: list[bytes] = []
    runner = LocalRunner("here")
    output = runner.run_streaming("out", argv, timeout=30, on_stdout=seen.append)
    assert output.ok and output.stderr == b"done\n"
    assert b"".join(seen) == output.stdout
    assert output.stdout.count(b"\n") == 20000
    plain = runner.run("out", argv, timeout=30)
    assert (plain.stdout, plain.stderr, plain.exit_status) == (output.stdout, b"done\n", 0)


def test_run_streaming_timeout_kills_and_raises() -> None:
    runner = LocalRunner("here")
    with pytest.raises(CollectionError, match=r"timed out after 0\.5 s"):
        runner.run_streaming("slow", ["sleep", "30"], timeout=0.5, on_stdout=lambda _: None)


def test_run_streaming_consumer_failure_kills_the_command() -> None:
    def refuse(chunk: bytes) -> None:
        raise RuntimeError("consumer broke")

    with pytest.raises(RuntimeError, match="consumer broke"):
        LocalRunner("here").run_streaming("yes", ["yes"], timeout=30, on_stdout=refuse)


def test_run_streaming_missing_command_is_an_output() -> None:
    output = LocalRunner("here").run_streaming(
        "nope", ["ctdiag-no-such-command"], timeout=5, on_stdout=lambda _: None
    )
    assert output.exit_status == 127 and b"command not found" in output.stderr
