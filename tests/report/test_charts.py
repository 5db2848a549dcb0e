"""Charts: inline SVG drawn by matplotlib, with escaped labels and nothing external."""

from __future__ import annotations

import re

from ctdiag.report import charts
from tests.report.samples import ATTRIBUTE, SCRIPT

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//""")


def test_bar_chart_escapes_hostile_labels_and_keeps_dollars_literal() -> None:
    svg = charts.bar_chart(
        "n1-states", "states", [(SCRIPT, 5), (ATTRIBUTE, 3), ("a & b $\\frac{1}{$", 2)]
    )
    assert svg.startswith('<svg class="ctdiag-chart"') and svg.rstrip().endswith("</svg>")
    assert SCRIPT not in svg and ATTRIBUTE not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "a &amp; b $\\frac{1}{$" in svg  # text, not mathtext
    assert "<?xml" not in svg and "DOCTYPE" not in svg
    assert not EXTERNAL.search(svg)


def test_long_labels_are_cut_and_values_shown() -> None:
    svg = charts.bar_chart("n1-src", "top", [("x" * 80, 262_144), ("y", 1)])
    assert "x" * (charts.MAX_LABEL - 1) + "\u2026" in svg
    assert "262,144" in svg


def test_charts_in_one_page_never_share_an_element_id() -> None:
    first = charts.bar_chart("n1-zones", "zones", [("zone 0", 3)])
    second = charts.bar_chart("n2-zones", "zones", [("zone 0", 3)])
    ids = re.findall(r'\bid="([^"]+)"', first) + re.findall(r'\bid="([^"]+)"', second)
    assert ids and len(ids) == len(set(ids))
    for svg, prefix in ((first, "n1-zones-"), (second, "n2-zones-")):
        refs = re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)
        assert all(ref.startswith(prefix) for pair in refs for ref in pair if ref)


def test_occupancy_chart_names_the_numbers_and_thresholds() -> None:
    svg = charts.occupancy_chart("n1-occ", 241_593, 262_144, warn=0.75, fail=0.9)
    assert "occupancy 92.2%: 241,593 of 262,144 entries" in svg
    assert "warn 0.75" in svg and "fail 0.9" in svg
    assert charts.ALERT_COLOR in svg
    empty = charts.occupancy_chart("n2-occ", 0, 0, warn=0.75, fail=0.9)
    assert "occupancy 0.0%" in empty
