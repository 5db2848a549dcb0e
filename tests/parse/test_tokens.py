"""The tokeniser: exactly the tokens of its specification (TOKEN_RE), on every path, linearly.

Three paths give the tokens (str.split, the expression on short lines with few brackets, the
vectorised one); each is held to ``TOKEN_RE.findall`` on random text made of the characters
that matter (brackets, ASCII and Unicode whitespace, the marker characters, lone surrogates).
The 1 MB hostile lines run in a child process under a generous time bound: the quadratic
expression alone takes hours on them, the tokeniser well under a second.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctdiag.parse.tokens import (
    FEW_BRACKETS,
    SHORT_LINE,
    SPACE_LIMIT,
    TOKEN_RE,
    split_tokens,
    token_bounds,
)
from tests.paths import ROOT

CHARACTERS = [
    *"[] \t\r\n\x0b\x0c\x1ca=x",
    "\x00", "\x01", "\x85", "\xa0", "\u2003", "\u3000", "\u2028", "\ufeff", "\u200b",
    "\ud800", "\udbff", "\udc80",
]  # fmt: skip
texts = st.text(alphabet=st.sampled_from(CHARACTERS), max_size=60)


def assert_tokens_like_the_expression(text: str) -> None:
    expected = TOKEN_RE.findall(text)
    assert split_tokens(text) == expected
    bounds = token_bounds(text)
    assert [(bounds.start(i), bounds.end(i)) for i in range(len(bounds))] == [
        m.span() for m in TOKEN_RE.finditer(text)
    ]


@settings(max_examples=600, deadline=None)
@given(texts)
def test_short_lines_few_brackets(text: str) -> None:
    assert_tokens_like_the_expression(text)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_many_brackets_take_the_vectorised_path(text: str) -> None:
    # A leading run of brackets changes no later token and puts the line over FEW_BRACKETS.
    assert_tokens_like_the_expression("[]" * (FEW_BRACKETS + 1) + " " + text)
    assert_tokens_like_the_expression(text + " " + "[" * (FEW_BRACKETS + 1))


@settings(max_examples=300, deadline=None)
@given(texts)
def test_long_lines_take_the_vectorised_path(text: str) -> None:
    assert_tokens_like_the_expression(text + " " * (SHORT_LINE + 1))
    assert_tokens_like_the_expression("x" * (SHORT_LINE + 1) + " " + text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[start=Tue Mar  4 10:00:00 2025] use=1", ["[start=Tue Mar  4 10:00:00 2025]", "use=1"]),
        ("[ a]b c]", ["[", "a]b", "c]"]),  # the first "]" is glued to b: no bracket token
        ("x[a b] [c d]", ["x[a", "b]", "[c d]"]),  # a "[" inside a run starts nothing
        ("[a [b c] d]", ["[a [b c]", "d]"]),  # up to the first "]", "[" inside included
        ("[\u3000]\xa0[\t]", ["[\u3000]", "[\t]"]),  # any whitespace, inside and between
        ("[ never closed", ["[", "never", "closed"]),
    ],
)
def test_bracket_tokens_on_every_path(text: str, expected: list[str]) -> None:
    assert TOKEN_RE.findall(text) == expected
    for variant, tokens in (
        (text, expected),
        ("[]" * (FEW_BRACKETS + 1) + " " + text, ["[]" * (FEW_BRACKETS + 1), *expected]),
        (text + " " * (SHORT_LINE + 1), expected),
    ):
        assert split_tokens(variant) == tokens
        bounds = token_bounds(variant)
        assert [variant[bounds.start(i) : bounds.end(i)] for i in range(len(bounds))] == tokens


def test_a_line_holding_every_marker_character() -> None:
    # The vectorised path marks token breaks with a character the line lacks; with none left
    # it slices token by token.
    text = "[a \x00] \x01 [\ud800 b] \udbff " + "[]" * (FEW_BRACKETS + 1)
    assert_tokens_like_the_expression(text)
    assert split_tokens(text)[:3] == ["[a \x00]", "\x01", "[\ud800 b]"]


def test_every_whitespace_code_point_is_below_the_table_limit() -> None:
    spaces = [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert max(spaces) < SPACE_LIMIT
    line = " ".join(f"[{chr(c)}]" for c in spaces) + " " + "[]" * (FEW_BRACKETS + 1)
    assert split_tokens(line)[: len(spaces)] == [f"[{chr(c)}]" for c in spaces]


HOSTILE = textwrap.dedent(
    """
    from ctdiag.parse.tokens import split_tokens, token_bounds
    n = 1 << 19  # 1 MB lines of two-character units
    shapes = {
        "[ " * n + "]x": ["["] * n + ["]x"],  # the quadratic case of the expression
        "[ " * n + "]": ["[ " * n + "]"],
        "[ ] " * (n // 2): ["[ ]"] * (n // 2),
        "[" * 2 * n: ["[" * 2 * n],
        "[ a]b " * (n // 3): ["[", "a]b"] * (n // 3),
        "= " * n: ["="] * n,
        " " * 2 * n + "[a b]": ["[a b]"],
        "[\\u3000]\\u3000" * (n // 2): ["[\\u3000]"] * (n // 2),
    }
    for text, expected in shapes.items():
        assert split_tokens(text) == expected, text[:20]
        bounds = token_bounds(text)
        assert len(bounds) == len(expected) and bounds.end(len(expected) - 1) <= len(text)
    print("ok")
    """
)


def test_hostile_megabyte_lines_in_linear_time() -> None:
    # Not a speed goal (benchmarks/bench_hostile_lines.py measures): a hang guard. The
    # expression alone needs 30 s for 128 KB of "[ " and hours for these.
    done = subprocess.run(
        [sys.executable, "-c", HOSTILE], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
