"""Parse a listing while it streams in: the very table :func:`parse_listing` gives on the whole.

``conntrack -L`` of a full table takes about a second, spent formatting in userspace; parsing
only once the last byte is in adds the parse to that second. :class:`ListingStreamParser`
takes the capture in chunks cut anywhere and parses each block of complete lines as soon as
it holds ``block_size`` new bytes, so the C fast path (which releases the GIL) runs while the
producer is still writing. It is pure: bytes in, table out; threads are the caller's.

The result equals ``parse_listing(b"".join(chunks))`` (non-strict): rows, columns,
dictionaries in first-use order, malformed lines with the line numbers of the whole capture,
trailer and notices. :func:`parse_listing` looks at the whole text in three places; each
is kept here:

- Merged stderr (:func:`~ctdiag.parse.trailer.strip_stderr`) can join two lines, but none
  of its markers spans a line break. Blocks are parsed only while none holds a marker; from
  the first block with one, the rest is kept and parsed by :meth:`finish` with the steps of
  :func:`parse_listing`, numbered on. Collection appends stderr after stdout, so the
  trailer only ever reaches :meth:`finish`.
- The XML / ``-o save`` refusal looks at the first non-blank bytes, which the first block
  that has any holds whole (lines end inside a block).
- The fast path declines a last line without ``use=`` (it may be cut short), and every block
  has a last line: a block's trailing declined line is carried into the next block.
"""

from __future__ import annotations

import re
from itertools import chain, count

import numpy as np

from ctdiag.errors import ParseError
from ctdiag.model.table import COUNTER_COLUMN, DICTIONARIES, ConntrackTable, Present
from ctdiag.parse.listing import (
    FastParser,
    ListingRows,
    _fast_parser,
    _reject_unsupported,
    _split_tail,
)
from ctdiag.parse.trailer import has_stderr_markers, strip_stderr

#: Bytes of new lines that make a block: big enough that the per-call overhead is noise,
#: small enough that little is left to parse when the producer stops.
DEFAULT_BLOCK_SIZE = 1 << 20
_NON_BLANK = re.compile(rb"\S")
#: Optional dictionary columns: a row without the value holds code 0 (the C code's way).
_OPTIONAL_CODES = {"state": Present.STATE, "secctx": Present.SECCTX, "helper": Present.HELPER}


class ListingStreamParser:
    """Feed a listing's bytes in order (``feed``), then take the table (``finish``).

    Args:
        block_size: new bytes that trigger parsing a block of complete lines.
        use_fast: use the C fast path when it is built (False: the reference parser only).

    Example::

        parser = ListingStreamParser()
        for chunk in chunks:
            parser.feed(chunk)
        table = parser.finish()  # == parse_listing(b"".join(chunks))
    """

    def __init__(self, *, block_size: int = DEFAULT_BLOCK_SIZE, use_fast: bool = True) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, not {block_size}")
        self._block_size = block_size
        self._rows = ListingRows(_block_parser() if use_fast else None)
        self._pending: list[bytes] = []  # bytes not parsed yet; starts at a line start
        self._fresh = 0  # bytes fed since the last block was cut
        self._lines = 0  # lines fully parsed: the next block starts at line _lines + 1
        self._deferred = False  # a stderr marker was seen: finish() parses the rest
        self._head_checked = False  # the first non-blank bytes passed the XML/save check
        self._error: ParseError | None = None
        self._finished = False
        self.blocks = 0
        """Blocks parsed before :meth:`finish` (how much of the parse overlapped the input)."""

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the capture; parses a block when enough lines are in.

        Never raises :class:`ParseError`: an unsupported input is reported by :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if not chunk:
            return
        self._pending.append(bytes(chunk))
        self._fresh += len(chunk)
        # Cut only when this chunk ends a line: a long line then costs no repeated joins.
        if self._deferred or self._error or self._fresh < self._block_size or b"\n" not in chunk:
            return
        data = b"".join(self._pending)
        cut = data.rfind(b"\n") + 1
        block, rest = data[:cut], data[cut:]
        self._fresh = 0
        if has_stderr_markers(block):
            self._deferred = True
            self._pending = [data]
            return
        carried = self._parse_block(block)
        self._pending = [carried + rest] if carried or rest else []

    def finish(self) -> ConntrackTable:
        """Parse what is left and return the table of the whole capture.

        Raises:
            ParseError: XML or ``-o save`` input (as :func:`parse_listing`).
        """
        if self._finished:
            raise RuntimeError("finish() was already called")
        self._finished = True
        if self._error is not None:
            raise self._error
        rest = b"".join(self._pending)
        self._pending = []
        first_line = self._lines + 1
        stripped = strip_stderr(rest, first_line=first_line)
        if not self._head_checked:
            _reject_unsupported(stripped.text)
        complete, tail = _split_tail(stripped.text)
        rows = self._rows
        rows.add_lines(complete, first_line)
        if tail.strip():
            rows.add_tail(tail, first_line + complete.count(b"\n"))
        if len(rows.parts) > 1:
            rows.parts = [join_fast_tables(rows.parts)]
        return rows.table(stripped)

    def _parse_block(self, block: bytes) -> bytes:
        """Parse a clean block of complete lines; return the bytes carried to the next one."""
        first_line = self._lines + 1
        if not self._head_checked and _NON_BLANK.search(block):
            self._head_checked = True
            try:
                _reject_unsupported(block)
            except ParseError as err:
                self._error = err
                return b""
        count = block.count(b"\n")
        rows = self._rows
        if rows.fast is None:
            rows.add_lines(block, first_line)
            self._lines += count
            self.blocks += 1
            return b""
        table, declined = rows.fast(block, first_line)
        carried = b""
        last_row = int(table.columns["line"][-1]) if len(table) else 0
        if declined and declined[-1][0] > last_row:
            # Possibly declined only for being last: parse it again as part of the next block.
            carry_from = declined[-1][0]
            declined = declined[:-1]
            start = len(block)
            for _ in range(first_line + count - carry_from + 1):
                start = block.rfind(b"\n", 0, start)
            carried = block[start + 1 :]
            count = carry_from - first_line
        rows.parts.append(table)
        rows.add_declined(declined)
        self._lines += count
        self.blocks += 1
        return carried


def _block_parser() -> FastParser | None:
    """The fast path with one address dictionary for all blocks: the blocks' tables then
    join without recoding addresses (a busy node's blocks hold a million between them)."""
    if _fast_parser() is None:
        return None
    from ctdiag.parse.fast import SharedAddresses, parse_lines_fast

    shared = SharedAddresses()

    def parse(data: bytes, first_line: int) -> tuple[ConntrackTable, list[tuple[int, str]]]:
        return parse_lines_fast(data, first_line, addresses=shared)

    return parse


def join_fast_tables(parts: list[ConntrackTable]) -> ConntrackTable:
    """The table one fast-path call on the parts' concatenated input would have given.

    Parts are in input order. Dictionaries merge in first-use order (parts parsed with one
    :class:`~ctdiag.parse.fast.SharedAddresses` share their addresses list: it is taken as
    it is); a row without an optional value keeps code 0; ``counters`` exists when any part
    has it (zeros elsewhere).
    (:meth:`ConntrackTable.concat` also remaps the code of absent values, and sorts.)
    """
    if len(parts) == 1:
        return parts[0]
    dictionaries: dict[str, list[str]] = {}
    remaps: dict[str, list[np.ndarray]] = {}
    shared = parts[0].dictionaries["addresses"]
    if all(p.dictionaries["addresses"] is shared for p in parts):
        dictionaries["addresses"] = list(shared)  # one dictionary for all: codes are final
    for name in DICTIONARIES:
        if name in dictionaries:
            continue
        # C-speed steps only (dict.fromkeys, zip, map): a dual-stack node's blocks hold over a
        # million dictionary values between them; a Python loop over them took seconds.
        distinct = dict.fromkeys(chain.from_iterable(p.dictionaries[name] for p in parts))
        code = dict(zip(distinct, count()))
        remaps[name] = [
            np.fromiter(map(code.__getitem__, p.dictionaries[name]), np.uint32,
                        len(p.dictionaries[name]))
            for p in parts
        ]  # fmt: skip
        dictionaries[name] = list(distinct)
    code_columns = {col: name for name, cols in DICTIONARIES.items() for col in cols}
    columns: dict[str, np.ndarray] = {}
    for column in (c for c in parts[0].columns if c != COUNTER_COLUMN):
        pieces = []
        for k, part in enumerate(parts):
            values = part.columns[column]
            dictionary = code_columns.get(column)
            if dictionary is not None and dictionary in remaps and len(values):
                values = _remap(values, remaps[dictionary][k], part, _OPTIONAL_CODES.get(column))
            pieces.append(values)
        columns[column] = np.concatenate(pieces)
    if any(COUNTER_COLUMN in p.columns for p in parts):
        columns[COUNTER_COLUMN] = np.concatenate(
            [p.columns.get(COUNTER_COLUMN, np.zeros((len(p), 4), np.uint64)) for p in parts]
        )
    return ConntrackTable(columns, dictionaries)


def _remap(
    codes: np.ndarray, remap: np.ndarray, part: ConntrackTable, bit: Present | None
) -> np.ndarray:
    if bit is None:
        remapped: np.ndarray = remap[codes]
        return remapped
    has = (part.columns["present"] & int(bit)) != 0
    if not len(remap):  # no row of this part has the value
        return np.zeros_like(codes)
    return np.where(has, remap[np.where(has, codes, 0)], 0).astype(codes.dtype)
