"""Find and remove conntrack-tools stderr text that was merged into captured stdout.

``conntrack -L`` writes its trailer (``conntrack v1.4.8 (conntrack-tools): 13 flow entries
have been shown.``) to stderr without flushing stdout first, so with ``2>&1`` the trailer can
land anywhere, even inside a flow line (seen with conntrack-tools 1.4.7 and 1.4.8). Notices,
the ENOBUFS warning of ``conntrack -E`` and error messages are stderr too.

Everything here works on bytes: the listing parser hands the cleaned text to the C fast path,
and 180 MB captures must not be decoded just to look for a handful of stderr lines. The scan
is ``bytes.find`` for a few fixed markers (memchr speed); the regexes only run where a marker
was found, and input without any marker is returned untouched.

Line numbers are preserved: a stderr line is replaced by an empty line, and when a trailer is
cut out of the middle of a flow line the line break it brought is re-inserted after the end of
the rejoined line, so every flow keeps the line number it has in the raw capture.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

from ctdiag.model.entries import TrailerInfo

#: Every conntrack-tools message (trailer or error) carries this program tag.
_TOOL_MARK = b"(conntrack-tools)"
_TOOL_RE = re.compile(rb"conntrack v([^\s()]{1,40}) \(conntrack-tools\): ([^\n]*)(\n?)")
_COUNT_RE = re.compile(
    rb"(\d+) (flow entr(?:y|ies)|flow events?|expectations?) (?:has|have) been "
    rb"(shown|created|updated|deleted|added)\.?\s*"
)
#: Whole stderr lines without the program tag; recognised only at the start of a line,
#: because these are written while stdout is flushed per event (``-E``) or before any output.
_LINE_MARKERS = (
    b"NOTICE: ",
    b"WARNING: ",
    # Second and third lines of the three-line ENOBUFS warning.
    b"This message means that the current netlink socket buffer size is too small.",
    b"Please, check --buffer-size in conntrack(8) manpage.",
    # Follows parameter-problem errors (exit status 2).
    b"Try `conntrack -h' or 'conntrack --help' for more information.",
)
_FLOW_NOUNS = frozenset({"flow entry", "flow entries", "flow event", "flow events"})


@functools.lru_cache(maxsize=4)
def _after_newline(prefixes: tuple[bytes, ...]) -> re.Pattern[bytes]:
    return re.compile(rb"\n(?:" + rb"|".join(re.escape(m) for m in prefixes if m) + rb")")


def _line_starts_with_python(data: bytes, prefixes: tuple[bytes, ...]) -> bool:
    """Whether a line of ``data`` starts with one of ``prefixes``: one regex pass (one ``in``
    per prefix costs four times as much)."""
    prefixes = tuple(m for m in prefixes if m)
    if not prefixes:
        return False
    return data.startswith(prefixes) or _after_newline(prefixes).search(data) is not None


def _load_line_starts_with() -> Callable[[bytes, tuple[bytes, ...]], bool]:
    """The C extension's one memchr pass when it is built (several times the regex's speed)."""
    try:
        function: Callable[[bytes, tuple[bytes, ...]], bool] = importlib.import_module(
            "ctdiag.parse._fastparse"
        ).line_starts_with
    except (ImportError, AttributeError):
        return _line_starts_with_python
    return function


_line_starts_with = _load_line_starts_with()


@dataclass(frozen=True, slots=True)
class Trailer:
    """One conntrack-tools count trailer found in the text.

    Attributes:
        info: version, count and verb, as the model stores them.
        noun: ``flow entries``, ``flow entry``, ``flow events``, ``expectations`` ...
        line_no: 1-based line of the raw text where it started.
        mid_line: True when it interrupted a flow line (the line was joined back).
    """

    info: TrailerInfo
    noun: str
    line_no: int
    mid_line: bool = False

    @property
    def counts_flows(self) -> bool:
        """Whether the count is of flows (entries or events), comparable to parsed lines."""
        return self.noun in _FLOW_NOUNS


@dataclass(frozen=True, slots=True)
class StrippedText:
    """The text with stderr removed, and what the stderr said.

    Attributes:
        text: the cleaned text (bytes, even for str input: UTF-8 with surrogateescape).
        trailers: every count trailer, in input order.
        notices: every other stderr line, verbatim (decoded with replacement characters),
            plus one note per trailer that was found inside a flow line.
    """

    text: bytes
    trailers: tuple[Trailer, ...] = ()
    notices: tuple[str, ...] = ()

    @property
    def trailer(self) -> TrailerInfo | None:
        """The last trailer that counts flows, or the last trailer of any kind, or None."""
        flows = [t for t in self.trailers if t.counts_flows]
        chosen = flows or list(self.trailers)
        return chosen[-1].info if chosen else None

    @property
    def flow_count(self) -> int | None:
        """Sum of the flow counts of all flow trailers (several captures may be concatenated)."""
        counts = [t.info.count for t in self.trailers if t.counts_flows]
        return sum(counts) if counts else None


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    at_line_start: bool
    with_newline: bool


def has_stderr_markers(data: bytes) -> bool:
    """Whether :func:`strip_stderr` could find anything to remove in ``data``.

    No marker spans a line break, so a text cut at line breaks has markers exactly when one
    of its pieces has: the streaming listing parser relies on this. Line markers count only
    at a line start, as in :func:`strip_stderr`; ``(`` is rare in flow text, so one memchr
    rules the program tag out on most listings.
    """
    return (b"(" in data and _TOOL_MARK in data) or _line_starts_with(data, _LINE_MARKERS)


@overload
def strip_stderr(data: bytes, *, first_line: int = 1) -> StrippedText: ...
@overload
def strip_stderr(data: str, *, first_line: int = 1) -> StrippedText: ...
def strip_stderr(data: bytes | str, *, first_line: int = 1) -> StrippedText:
    """Remove conntrack-tools stderr messages from captured output.

    Args:
        data: raw capture; str is encoded as UTF-8 (surrogateescape) first.
        first_line: the line number of the first line of ``data`` (for the tail of a capture
            whose head was read already), used in trailers and notices.

    Returns:
        The cleaned text with line numbering preserved, the trailers and the notices.
    """
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if not has_stderr_markers(raw):
        return StrippedText(raw)
    spans, trailers, notices = _scan(raw, first_line)
    if not spans:  # markers only inside flow text (a progname, a secctx): nothing to cut
        return StrippedText(raw)
    return StrippedText(_rebuild(raw, spans), tuple(trailers), tuple(notices))


def _scan(raw: bytes, first_line: int) -> tuple[list[_Span], list[Trailer], list[str]]:
    found: list[tuple[_Span, bytes | None]] = []  # (span, tool message or None)
    pos = raw.find(_TOOL_MARK)
    while pos != -1:
        start = raw.rfind(b"conntrack v", max(0, pos - 60), pos)
        match = _TOOL_RE.match(raw, start) if start != -1 else None
        if match is None or match.start(2) - len(b"(conntrack-tools): ") != pos:
            pos = raw.find(_TOOL_MARK, pos + 1)
            continue
        at_start = start == 0 or raw[start - 1] == 0x0A
        found.append((_Span(start, match.end(), at_start, bool(match.group(3))), match.group(0)))
        pos = raw.find(_TOOL_MARK, match.end())
    for marker in _LINE_MARKERS:
        pos = raw.find(marker)
        while pos != -1:
            if pos == 0 or raw[pos - 1] == 0x0A:
                end = raw.find(b"\n", pos)
                end = len(raw) if end == -1 else end + 1
                found.append((_Span(pos, end, True, raw[end - 1 : end] == b"\n"), None))
            pos = raw.find(marker, pos + 1)
    found.sort(key=lambda item: item[0].start)

    spans: list[_Span] = []
    trailers: list[Trailer] = []
    notices: list[str] = []
    line_no, counted_to = first_line, 0
    for span, tool_text in found:
        if spans and span.start < spans[-1].end:
            continue  # inside an earlier match (a NOTICE line quoting the program tag)
        line_no += raw.count(b"\n", counted_to, span.start)
        counted_to = span.start
        spans.append(span)
        line = raw[span.start : span.end].rstrip(b"\r\n").decode("utf-8", "replace")
        if not span.at_line_start:
            notices.append(f"stderr text removed from inside line {line_no}: {line}")
        trailer = _trailer(tool_text, line_no, not span.at_line_start) if tool_text else None
        if trailer is not None:
            trailers.append(trailer)
        elif span.at_line_start:
            notices.append(line)
    return spans, trailers, notices


def _trailer(tool_text: bytes, line_no: int, mid_line: bool) -> Trailer | None:
    match = _TOOL_RE.match(tool_text)
    assert match is not None  # the scanner matched this very text
    count = _COUNT_RE.fullmatch(match.group(2).rstrip(b"\r"))
    if count is None:
        return None  # an error message, reported as a notice
    info = TrailerInfo(
        version=match.group(1).decode("ascii", "replace"),
        count=int(count.group(1)),
        verb=count.group(3).decode("ascii"),
    )
    return Trailer(info, count.group(2).decode("ascii"), line_no, mid_line)


def _rebuild(raw: bytes, spans: list[_Span]) -> bytes:
    # memoryview slices: the text is copied once, by the join, not once more per piece.
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = []
    pending = 0  # line breaks owed to lines that were joined back together
    pos = 0
    for span in spans:
        pending = _copy(raw, view, pos, span.start, pending, pieces)
        if span.with_newline:
            if span.at_line_start:
                pieces.append(b"\n")  # keep an empty line so later line numbers hold
            else:
                pending += 1
        pos = span.end
    _copy(raw, view, pos, len(raw), pending, pieces)
    return b"".join(pieces)


def _copy(
    raw: bytes,
    view: memoryview,
    start: int,
    end: int,
    pending: int,
    pieces: list[bytes | memoryview],
) -> int:
    """Take ``raw[start:end]``, paying owed line breaks after its first newline."""
    if pending:
        newline = raw.find(b"\n", start, end)
        if newline != -1:
            pieces.append(view[start : newline + 1])
            pieces.append(b"\n" * pending)
            start, pending = newline + 1, 0
    if end > start:
        pieces.append(view[start:end])
    return pending
