"""Split a flow line into tokens: runs of non-whitespace, but a bracket may hold whitespace.

The specification is one regular expression, :data:`TOKEN_RE` (``conntrack -o ktimestamp``:
``[start=Tue Mar  4 10:00:00 2025]`` is one token, so brackets are read before whitespace): a
``[`` that starts a token runs to the first ``]`` after it when that ``]`` ends a run of
non-whitespace; any other token is a run of non-whitespace. Whitespace is Unicode whitespace
(:meth:`str.isspace`), as for :meth:`str.split`.

The expression alone is quadratic: from each ``[`` that starts a token it scans to the next
``]``, and when that ``]`` is glued to more text it fails and scans again from the next ``[``
(``[ [ [ … ]x``: a 128 KB line took 30 s). :func:`split_tokens` and :func:`token_bounds` give
its very tokens in time linear in the line:

* no bracket holding whitespace (nearly every line): :meth:`str.split`;
* at most :data:`FEW_BRACKETS` brackets on a line of at most :data:`SHORT_LINE` characters:
  the expression, which then scans the line at most that many times;
* anything else: vectorised with numpy. Every ``]`` closes at most one bracket token, the one
  opened by the first run-starting ``[`` after the ``]`` before it, so the whitespace inside
  bracket tokens is found with a few passes over the line.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

#: The tokeniser the rest computes faster.
TOKEN_RE = re.compile(r"\[[^\]]*\](?!\S)|\S+")
#: More brackets than this, or a longer line, and the expression is not used.
FEW_BRACKETS = 8
SHORT_LINE = 4096

#: Code points str.isspace accepts all lie below this (tests/parse/test_entries.py checks).
SPACE_LIMIT = 0x3001
_ASCII_SPACE = np.array([chr(c).isspace() for c in range(128)])
_space_table: npt.NDArray[np.bool_] | None = None
#: Characters that may mark token breaks in the vectorised path: the first one the line lacks.
_MARKERS = ("\x00", "\x01", "\ud800", "\udbff")
_OPEN, _CLOSE = ord("["), ord("]")


class TokenBounds:
    """Where the tokens of a line are: token ``i`` is ``text[bounds.start(i):bounds.end(i)]``."""

    __slots__ = ("_ends", "_starts")

    def __init__(
        self, starts: list[int] | npt.NDArray[np.intp], ends: list[int] | npt.NDArray[np.intp]
    ) -> None:
        self._starts = starts
        self._ends = ends

    def __len__(self) -> int:
        return len(self._starts)

    def start(self, i: int) -> int:
        """Offset of the first character of token ``i``."""
        return int(self._starts[i])

    def end(self, i: int) -> int:
        """Offset just after the last character of token ``i``."""
        return int(self._ends[i])


def split_tokens(text: str) -> list[str]:
    """The tokens of a line, exactly ``TOKEN_RE.findall(text)``, in linear time."""
    brackets = text.count("[")
    if brackets == 0:
        return text.split()
    if brackets <= FEW_BRACKETS:
        if not _may_hold_whitespace(text):
            return text.split()
        if len(text) <= SHORT_LINE:
            return TOKEN_RE.findall(text)
    codes, separators, bracketed = _separators(text)
    if not bracketed:
        return text.split()
    return _split_at(text, codes, separators)


def token_bounds(text: str) -> TokenBounds:
    """Where each token of :func:`split_tokens` starts and ends, in linear time."""
    if len(text) <= SHORT_LINE and text.count("[") <= FEW_BRACKETS:
        spans = [m.span() for m in TOKEN_RE.finditer(text)]
        return TokenBounds([s for s, _ in spans], [e for _, e in spans])
    _, separators, _ = _separators(text)
    edge = _padded(separators)
    inner = ~separators
    return TokenBounds(np.flatnonzero(inner & edge[:-2]), np.flatnonzero(inner & edge[2:]) + 1)


def _may_hold_whitespace(text: str) -> bool:
    """Whether some ``[`` may have whitespace before the next ``]`` (only then can a token
    hold whitespace). A ``[`` without any ``]`` after it never makes a bracket token."""
    start = text.find("[")
    while start != -1:
        end = text.find("]", start)
        if end == -1:
            return False
        inner = text[start:end]
        # Every whitespace character but " " is unprintable (categories Zs, Zl, Zp, Cc): a
        # cheap test, at worst sending a line with odd bytes down the exact path.
        if " " in inner or not inner.isprintable():
            return True
        start = text.find("[", end)
    return False


def _separators(
    text: str,
) -> tuple[npt.NDArray[np.uint8] | npt.NDArray[np.uint32], npt.NDArray[np.bool_], bool]:
    """The code points of ``text``, its whitespace that separates tokens, and whether some
    whitespace is inside a bracket token (when not, the separators are all the whitespace)."""
    codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint32]
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), np.uint8)
    else:  # surrogatepass: lone surrogates (surrogateescape input) are code points like others
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    spaces = _spaces(codes)
    edge = _padded(spaces)  # edge[i] is whether the character before text[i] is whitespace
    is_close = codes == _CLOSE
    closes = np.flatnonzero(is_close)
    opens = np.flatnonzero((codes == _OPEN) & edge[:-2])  # "[" that starts a run
    if not len(closes) or not len(opens):
        return codes, spaces, False
    # The "]" before each run-starting "[" count to the index of the first "]" after it. Of the
    # "[" sharing that "]", only the first starts a token (the others are inside it, or plain
    # runs if it is not a bracket token).
    after = np.cumsum(is_close, dtype=np.int32)[opens]
    first = np.empty(len(after), bool)
    first[0] = True
    np.not_equal(after[1:], after[:-1], out=first[1:])
    first &= after < len(closes)
    starts, ends = opens[first], closes[after[first]]
    whole = edge[ends + 2]  # that "]" ends a run: text[start:end + 1] is one token
    starts, ends = starts[whole], ends[whole]
    if not len(starts):
        return codes, spaces, False
    marks = np.zeros(len(codes), np.int8)  # the tokens are disjoint: the sum is 0 or 1
    marks[starts] = 1
    marks[ends] = -1
    inside = np.cumsum(marks, dtype=np.int8).view(bool)
    return codes, spaces & ~inside, True


def _spaces(codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
    if codes.dtype == np.uint8:
        spaces: npt.NDArray[np.bool_] = _ASCII_SPACE[codes]
        return spaces
    global _space_table
    if _space_table is None:  # 12,289 code points: built on first use, not at import
        _space_table = np.array([chr(c).isspace() for c in range(SPACE_LIMIT)] + [False])
    spaces = _space_table[np.minimum(codes, SPACE_LIMIT)]
    return spaces


def _padded(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``mask`` with True before and after: the line's ends count as whitespace."""
    edge = np.ones(len(mask) + 2, bool)
    edge[1:-1] = mask
    return edge


def _split_at(
    text: str,
    codes: npt.NDArray[np.uint8] | npt.NDArray[np.uint32],
    separators: npt.NDArray[np.bool_],
) -> list[str]:
    """Split ``text`` at its separating whitespace: each gap becomes one marker character the
    text lacks, and :meth:`str.split` on it makes the strings (a slice per token in Python
    costs four times as much)."""
    marker = next((m for m in _MARKERS if m not in text), None)
    if marker is None:  # the line holds every marker: slice token by token
        bounds = token_bounds(text)
        return [text[bounds.start(i) : bounds.end(i)] for i in range(len(bounds))]
    keep = ~(separators & _padded(separators)[:-2])  # the first separator of each gap
    wide = codes.dtype == np.uint32 or ord(marker) > 0x7F
    dtype = np.uint32 if wide else np.uint8
    raw = np.where(separators, dtype(ord(marker)), codes.astype(dtype))[keep].tobytes()
    joined = raw.decode("utf-32-le", "surrogatepass") if wide else raw.decode("ascii")
    tokens = joined.split(marker)
    if tokens[-1] == "":  # the line ended in whitespace, or was all whitespace
        tokens.pop()
    return tokens
