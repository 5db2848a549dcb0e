"""Parse a whole capture: ``conntrack -L``, ``/proc/net/nf_conntrack`` or ``conntrack -E``.

Steps: strip merged stderr (:mod:`.trailer`), refuse XML and ``-o save`` captures, hand the
complete lines to the C fast path when it is built, parse what it declines (or everything,
without it) with the reference parser (:mod:`.entries`), judge an unterminated last line, and
cross-check the trailer count.

Line numbers are those of the raw capture (stripping stderr keeps the numbering).
``ParseDiagnostics.lines_read`` counts non-blank flow lines: entries plus malformed lines.
Blank means :func:`~ctdiag.parse.entries.is_blank_line` (empty or ASCII whitespace only, as the
C fast path skips); a line of other whitespace or invisible characters (U+00A0, U+3000,
U+FEFF ...) is a malformed line, never dropped. ``ParseDiagnostics.trailer_count`` is what the
trailer counted; ``missing`` the flows it counted beyond the lines read.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ctdiag.errors import ParseError
from ctdiag.model.entries import (
    ConntrackEntry,
    ConntrackEvent,
    MalformedLine,
    ParseDiagnostics,
)
from ctdiag.model.outputs import CommandOutput
from ctdiag.model.table import ConntrackTable
from ctdiag.model.table_builder import build_table
from ctdiag.parse.entries import (
    is_blank_line,
    is_event_line,
    parse_entry_line,
    parse_event_line,
)
from ctdiag.parse.trailer import StrippedText, strip_stderr

_LEADING_SPACE = re.compile(rb"\s*")
_T = TypeVar("_T")

FastParser = Callable[[bytes, int], tuple[ConntrackTable, list[tuple[int, str]]]]


def parse_listing(
    data: bytes | str, *, strict: bool = False, use_fast: bool = True
) -> ConntrackTable:
    """Parse a listing (F1 with any ``-o`` but xml/save, F8) or an event capture (F2).

    Event lines become plain entries (tag, timestamp, portid and progname are dropped; use
    :func:`parse_events` to keep them).

    Args:
        data: the captured text; stderr merged into it is found and removed.
        strict: raise the first :class:`ParseError` instead of recording malformed lines.
        use_fast: use the C fast path when it is built (False forces the reference parser).

    Returns:
        The table; ``table.diagnostics`` holds malformed lines, the trailer, its count and
        notices (including ``"trailer says N flow entries, M were read"`` when the counts
        disagree).

    Raises:
        ParseError: XML or ``-o save`` input (always), or any bad line when ``strict``.
    """
    stripped = strip_stderr(data)
    text = stripped.text
    _reject_unsupported(text)
    complete, tail = _split_tail(text)
    rows = ListingRows(_fast_parser() if use_fast else None, strict=strict)
    rows.add_lines(complete, 1)
    if tail.strip():
        rows.add_tail(tail, complete.count(b"\n") + 1)
    return rows.table(stripped)


class ListingRows:
    """What a listing parse has read so far, and the table it makes at the end.

    :func:`parse_listing` feeds it the whole text at once; the streaming parser
    (:mod:`ctdiag.parse.listing_stream`) feeds it block by block, then joins its fast-path
    tables into one (``parts``) before :meth:`table`, so both end in the same steps.
    """

    def __init__(self, fast: FastParser | None, *, strict: bool = False) -> None:
        self.fast = fast
        self.strict = strict
        self.parts: list[ConntrackTable] = []
        self.entries: list[ConntrackEntry] = []
        self.lines: list[int] = []
        self.malformed: list[MalformedLine] = []

    def add_lines(self, complete: bytes, first_line: int) -> None:
        """Parse newline-terminated lines numbered from ``first_line``."""
        if self.fast is not None and complete:
            fast_table, declined = self.fast(complete, first_line)
            self.parts.append(fast_table)
            todo: Iterable[tuple[int, str]] = declined
        else:
            todo = _numbered_lines(complete, first_line)
        self.add_declined(todo)

    def add_declined(self, todo: Iterable[tuple[int, str]]) -> None:
        """Parse, with the reference parser, the lines the fast path declined."""
        for line_no, line in todo:
            entry = _parse_one(line, line_no, _entry_of, self.strict, self.malformed)
            if entry is not None:
                self.entries.append(entry)
                self.lines.append(line_no)

    def add_tail(self, tail: bytes, line_no: int) -> None:
        """Judge the unterminated last line."""
        entry = _parse_tail(tail, line_no, _entry_of, self.strict, self.malformed)
        if entry is not None:
            self.entries.append(entry)
            self.lines.append(line_no)

    def table(self, stripped: StrippedText) -> ConntrackTable:
        """The table of everything read; ``parts`` must hold at most one fast-path table."""
        parts = self.parts
        if len(parts) > 1:
            raise ValueError("join the fast-path tables before building the table")
        read = sum(len(p) for p in parts) + len(self.entries) + len(self.malformed)
        diagnostics = _diagnostics(stripped, self.malformed, read, "entries")
        if parts and not self.entries:
            # Everything went through the fast path: its table is the answer (a concat would
            # copy every column once more).
            parts[0].diagnostics = diagnostics
            return parts[0]
        table = build_table(self.entries, lines=self.lines, diagnostics=diagnostics)
        return ConntrackTable.concat([*parts, table], diagnostics) if parts else table


def parse_events(
    data: bytes | str, *, strict: bool = False
) -> tuple[list[ConntrackEvent], ParseDiagnostics]:
    """Parse a ``conntrack -E`` capture, keeping tag, timestamp, portid and progname.

    Untagged flow lines are accepted as events of unknown kind.

    Args:
        data: the captured text; merged stderr (notices, ENOBUFS warning, trailer) is removed.
        strict: raise the first :class:`ParseError` instead of recording malformed lines.

    Returns:
        The events in input order, and the diagnostics (ENOBUFS warnings are in ``notices``).
    """
    stripped = strip_stderr(data)
    _reject_unsupported(stripped.text)
    complete, tail = _split_tail(stripped.text)
    malformed: list[MalformedLine] = []
    events: list[ConntrackEvent] = []
    for line_no, line in _numbered_lines(complete):
        event = _parse_one(line, line_no, parse_event_line, strict, malformed)
        if event is not None:
            events.append(event)
    if tail.strip():
        line_no = complete.count(b"\n") + 1
        event = _parse_tail(tail, line_no, parse_event_line, strict, malformed)
        if event is not None:
            events.append(event)
    read = len(events) + len(malformed)
    return events, _diagnostics(stripped, malformed, read, "events")


def looks_like_events(data: bytes | str) -> bool:
    """Whether a capture is ``conntrack -E`` output, judged by its first flow line.

    Only the head of the capture is looked at (stderr lines such as NOTICE skipped, and lines
    of only whitespace, Unicode whitespace included), so this is cheap on a 200 MB listing.
    """
    head = data[:65536] if isinstance(data, bytes) else data[:65536].encode("utf-8", "replace")
    lines = strip_stderr(head).text.split(b"\n")
    for raw in lines[:-1] if len(lines) > 1 else lines:
        line = raw.decode("utf-8", "replace")
        if line.strip():  # any whitespace: a stray U+3000 line must not hide the format
            return is_event_line(line)
    return False


def _entry_of(line: str, line_no: int) -> ConntrackEntry:
    if is_event_line(line):
        return parse_event_line(line, line_no).entry
    return parse_entry_line(line, line_no)


def _parse_one(
    line: str,
    line_no: int,
    parse: Callable[[str, int], _T],
    strict: bool,
    malformed: list[MalformedLine],
) -> _T | None:
    if is_blank_line(line):
        return None
    try:
        return parse(line, line_no)
    except ParseError as err:
        if strict:
            raise
        malformed.append(MalformedLine(line_no, line.rstrip("\r"), err.reason))
        return None


def _parse_tail(
    raw: bytes,
    line_no: int,
    parse: Callable[[str, int], _T],
    strict: bool,
    malformed: list[MalformedLine],
) -> _T | None:
    """A last line without newline: the producer may have been cut off mid-line (13.8)."""
    line = raw.decode("utf-8", "replace").rstrip("\r")
    try:
        result = parse(line, line_no)
    except ParseError as err:
        reason = f"truncated last line (no newline): {err.reason}"
    else:
        listing = isinstance(result, ConntrackEntry) and not is_event_line(line)
        if not (listing and isinstance(result, ConntrackEntry) and result.use is None):
            return result
        reason = "truncated last line (no newline and no use=)"
    if strict:
        raise ParseError(reason, line_no=line_no, text=line)
    malformed.append(MalformedLine(line_no, line, reason, truncated=True))
    return None


def _diagnostics(
    stripped: StrippedText, malformed: list[MalformedLine], read: int, what: str
) -> ParseDiagnostics:
    notices = list(stripped.notices)
    expected = stripped.flow_count
    if expected is not None and expected != read:
        bad = f" ({len(malformed)} of them malformed)" if malformed else ""
        notices.append(f"trailer says {expected} flow {what}, {read} were read{bad}")
    if stripped.trailers and expected is None:
        notices.append("the trailer counts expectations, not flows; count not checked")
    return ParseDiagnostics(
        malformed=tuple(malformed),
        trailer=stripped.trailer,
        notices=tuple(notices),
        lines_read=read,
        trailer_count=expected,
    )


def _split_tail(text: bytes) -> tuple[bytes, bytes]:
    """Complete newline-terminated lines, and the unterminated rest."""
    cut = text.rfind(b"\n") + 1
    return text[:cut], text[cut:]


def _numbered_lines(complete: bytes, first_line: int = 1) -> Iterable[tuple[int, str]]:
    # split("\n"), not splitlines(): the latter also breaks on \x0b, \x1c, \u2028 ...,
    # which would shift line numbers on odd bytes inside a secctx or progname.
    lines = complete.decode("utf-8", "replace").split("\n")
    return zip(range(first_line, first_line + len(lines) - 1), lines[:-1], strict=True)


def _reject_unsupported(text: bytes) -> None:
    start = _LEADING_SPACE.match(text)
    head = text[start.end() if start else 0 :][:20]
    if head.startswith((b"<?xml", b"<conntrack", b"<flow")):
        raise ParseError(
            "XML output (conntrack -o xml) is not supported; capture `conntrack -L` without "
            "-o xml (optionally -o extended,id) or /proc/net/nf_conntrack instead"
        )
    if head.startswith((b"-A ", b"-U ", b"-D ", b"-I ")):
        raise ParseError(
            "conntrack -o save output is not supported; capture `conntrack -L` without "
            "-o save or /proc/net/nf_conntrack instead"
        )


def _fast_parser() -> FastParser | None:
    """The C fast path, when it was built; imported lazily so its absence is not an error."""
    try:
        module: Any = importlib.import_module("ctdiag.parse.fast")
    except ImportError:
        return None
    if not getattr(module, "AVAILABLE", False):
        return None
    parser: FastParser = module.parse_lines_fast
    return parser


def listing_tail(output: CommandOutput) -> bytes:
    """What follows stdout in the text parsed: a line break when stdout lacks its last one,
    then stderr, which carries the ``N flow entries have been shown.`` trailer (its count is
    cross-checked against the entries read)."""
    stdout = output.stdout
    newline = b"\n" if stdout and not stdout.endswith(b"\n") else b""
    return newline + output.stderr


def listing_text(output: CommandOutput) -> bytes:
    """The text the listing parser reads for one listing output: stdout, then stderr."""
    return output.stdout + listing_tail(output)
