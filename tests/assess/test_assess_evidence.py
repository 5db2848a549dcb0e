"""Selecting and rendering the entries behind a finding (ctdiag.assess.evidence, .wording)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.assess.evidence import entry_lines, half_open_rows, source_rows, unreplied_rows
from ctdiag.assess.thresholds import SPEC_BY_NAME, Thresholds
from ctdiag.assess.wording import MAX_DIGITS, beside_limits, sources
from tests.assess.inputs import CAPTURES, CLIENT, parsed

EXTENDED = (CAPTURES / "conntrack_L_extended.stdout").read_text()
LINES = EXTENDED.splitlines()


def rendered(rows: object, limit: int = 100) -> list[str]:
    table, _ = parsed(EXTENDED)
    return list(entry_lines(table, rows, limit))  # type: ignore[arg-type]


def original_source(line: str) -> str:
    return re.search(r" src=(\S+)", line).group(1)  # type: ignore[union-attr]


def test_rows_of_the_captured_listing() -> None:
    table, _ = parsed(EXTENDED)
    assert rendered(unreplied_rows(table)) == [line for line in LINES if "[UNREPLIED]" in line]
    assert rendered(half_open_rows(table)) == [line for line in LINES if " SYN_SENT " in line]
    for address in (CLIENT, "fd00:123:1::2"):
        rows = source_rows(table, address)
        assert rendered(rows) == [line for line in LINES if original_source(line) == address]
    assert len(source_rows(table, "10.123.2.2")) == 0  # only ever a destination
    assert len(source_rows(table, "192.0.2.99")) == 0  # never seen


def test_every_row_renders_back_to_its_line() -> None:
    table, _ = parsed(EXTENDED)
    assert list(entry_lines(table, np.arange(len(table)), len(table))) == LINES


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 100])
def test_entry_lines_are_capped(limit: int) -> None:
    table, _ = parsed(EXTENDED)
    rows = unreplied_rows(table)
    assert rendered(rows, limit) == [line for line in LINES if "[UNREPLIED]" in line][:limit]


def test_no_half_open_state_in_the_table() -> None:
    table, _ = parsed("".join(f"{line}\n" for line in LINES if " SYN_" not in line))
    assert len(half_open_rows(table)) == 0
    empty, _ = parsed("")
    assert len(half_open_rows(empty)) == 0 and len(unreplied_rows(empty)) == 0


# --- wording --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "limits", "digits", "scale", "text"),
    [
        (0.8999977, (0.75, 0.9), 1, 100, "89.9998"),
        (0.9, (0.75, 0.9), 1, 100, "90.0"),
        (0.921, (0.75, 0.9), 1, 100, "92.1"),
        (8.0000076, (8.0,), 2, 1, "8.00001"),
        (8.0, (8.0,), 2, 1, "8.00"),
        (9.96, (10.0,), 1, 1, "9.96"),
        (9.94, (10.0,), 1, 1, "9.9"),
        (10.0 + 1e-9, (10.0,), 1, 1, "10.000000"),  # at most six decimals
    ],
)
def test_beside_limits(
    value: float, limits: tuple[float, ...], digits: int, scale: float, text: str
) -> None:
    assert beside_limits(value, limits, digits=digits, scale=scale) == text


@given(value=st.floats(0, 1_000), limit=st.floats(0, 1_000), digits=st.integers(0, 3))
def test_beside_limits_never_prints_a_limit_it_is_not_at(
    value: float, limit: float, digits: int
) -> None:
    text = beside_limits(value, (limit,), digits=digits)
    shown = len(text.partition(".")[2])
    assert shown >= digits
    if value != limit and shown < MAX_DIGITS:
        assert text != f"{limit:.{shown}f}"
    assert abs(float(text) - value) <= 0.5 * 10**-digits + 1e-9


def test_sources_each_once_in_order() -> None:
    defaults = Thresholds()
    assert sources(defaults, "invalid_rate_warn", "invalid_rate_fail") == (
        SPEC_BY_NAME["invalid_rate_warn"].source
    )
    changed = Thresholds(invalid_rate_fail=20)
    assert sources(changed, "invalid_rate_warn", "invalid_rate_fail") == (
        "ctdiag default (ctdiag/checks/README.md#invalid); "
        "set for this run (default 10: ctdiag default (ctdiag/checks/README.md#invalid))"
    )
