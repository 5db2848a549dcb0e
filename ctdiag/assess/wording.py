"""How verdicts word their figures and the sources of their thresholds."""

from __future__ import annotations

from collections.abc import Iterable

from ctdiag.assess.thresholds import Thresholds

#: Most decimals :func:`beside_limits` adds to keep a figure off a limit it is not at.
MAX_DIGITS = 6


def beside_limits(value: float, limits: Iterable[float], *, digits: int, scale: float = 1) -> str:
    """``value * scale`` with ``digits`` decimals, more while that would print a limit.

    A figure rounded onto its threshold contradicts the level: a table 89.99977 % full,
    judged below a 0.9 limit, must not read "90.0 %", nor an 8.0000076 ratio "8.00" when it
    fails for being above 8.
    """
    limits = tuple(limits)

    def looks_like_a_limit(shown: int) -> bool:
        text = f"{value * scale:.{shown}f}"
        return any(value != limit and f"{limit * scale:.{shown}f}" == text for limit in limits)

    while digits < MAX_DIGITS and looks_like_a_limit(digits):
        digits += 1
    return f"{value * scale:.{digits}f}"


def sources(thresholds: Thresholds, *names: str) -> str:
    """The sources of the thresholds ``names``, each once, in order ("set for this run" too)."""
    return "; ".join(dict.fromkeys(thresholds.source(name) for name in names))
