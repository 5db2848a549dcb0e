"""Where the project's tests find the repository and their recorded data."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: Real captures of this kernel and conntrack-tools (tests/captures/README.md).
CAPTURES = TESTS / "captures"
#: Counter and tunable captures (tests/data/stats/README.md).
STATS_DATA = TESTS / "data" / "stats"
