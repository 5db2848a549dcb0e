"""Charts for the report, drawn by matplotlib as SVG text to inline in the HTML file.

Inline SVG needs no external file, font or script, so the single report opens offline.
Text stays text (``svg.fonttype: none``) and matplotlib escapes it as XML; labels are never
parsed as mathtext, so ``$`` in an address or a label cannot break a chart. Charts take
aggregates (label, count), never rows. matplotlib is imported on first use: runs that
write no HTML report never pay for it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Labels longer than this are cut (with an ellipsis) so bars keep their room.
MAX_LABEL = 42
#: rcParams for every chart (typed loosely: matplotlib types its keys as a literal union).
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # <text> elements, not glyph outlines: small, selectable
    "svg.hashsalt": "ctdiag",  # stable element ids: the same data gives the same SVG
    "text.parse_math": False,
    "font.size": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_ID = re.compile(r'\bid="([^"]*)"')
_URL_REF = re.compile(r"url\(#([^)]*)\)")
_HREF_REF = re.compile(r'href="#([^"]*)"')

BAR_COLOR = "#4c78a8"
ALERT_COLOR = "#c44e52"
ZONE_COLORS = ("#e3f1e0", "#fbeccb", "#f6d5d5")  # below warn, warn..fail, at/above fail


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "\u2026"


def _svg(figure: Figure, chart_id: str) -> str:
    """The figure as an ``<svg>`` element: no XML prolog or DOCTYPE, every id prefixed with
    ``chart_id`` so that several charts in one page never share one."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None,
                   "Format": None, "Type": None})  # fmt: skip
    svg = _PROLOG.sub("", buffer.getvalue(), count=1)
    svg = _ID.sub(lambda m: f'id="{chart_id}-{m.group(1)}"', svg)
    svg = _URL_REF.sub(lambda m: f"url(#{chart_id}-{m.group(1)})", svg)
    svg = _HREF_REF.sub(lambda m: f'href="#{chart_id}-{m.group(1)}"', svg)
    return svg.replace("<svg ", f'<svg class="ctdiag-chart" role="img" data-chart="{chart_id}" ', 1)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def bar_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    xlabel: str = "entries",
    color: str = BAR_COLOR,
) -> str:
    """Horizontal bars, largest first as given, each labelled with its value.

    Args:
        chart_id: unique in the page, ``[a-z0-9-]`` (prefixes the SVG's element ids).
        title: shown above the chart.
        items: (label, value) pairs, drawn top to bottom.
        xlabel: what the values count.
        color: bar colour.
    """
    import matplotlib

    with matplotlib.rc_context(_RC):
        figure = _figure(4.6, 0.75 + 0.24 * max(len(items), 1))
        axes = figure.add_subplot()
        positions = list(range(len(items)))
        values = [value for _, value in items]
        bars = axes.barh(positions, values, color=color, height=0.7)
        axes.set_yticks(positions, labels=[_label(label) for label, _ in items])
        axes.invert_yaxis()
        axes.bar_label(bars, labels=[f"{v:,.0f}" if v == int(v) else f"{v:,.2f}" for v in values],
                       padding=2, fontsize=7.5)  # fmt: skip
        axes.set_xlim(0, max(values, default=1) * 1.18 or 1)
        if all(value == int(value) for value in values):
            axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, integer=True))
            axes.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        axes.set_xlabel(xlabel)
        axes.set_title(title, loc="left", fontsize=9.5)
        return _svg(figure, chart_id)


def occupancy_chart(chart_id: str, count: int, limit: int, *, warn: float, fail: float) -> str:
    """count / max as one bar over the pass, warn and fail zones of the thresholds."""
    import matplotlib

    ratio = count / limit if limit else 0.0
    with matplotlib.rc_context(_RC):
        figure = _figure(4.6, 1.15)
        axes = figure.add_subplot()
        top = max(1.0, ratio * 1.05)
        for (start, end), shade in zip(((0, warn), (warn, fail), (fail, top)), ZONE_COLORS,
                                       strict=True):  # fmt: skip
            axes.axvspan(start, end, color=shade, zorder=0)
        color = ALERT_COLOR if ratio >= fail else "#dd8452" if ratio >= warn else BAR_COLOR
        axes.barh([0], [ratio], color=color, height=0.5, zorder=2)
        for limit_at, name in ((warn, "warn"), (fail, "fail")):
            axes.axvline(limit_at, color="#555555", linewidth=0.8, linestyle="--", zorder=3)
            axes.text(limit_at, 0.42, f" {name} {limit_at:g}", fontsize=7, va="bottom", zorder=3)
        axes.set_xlim(0, top)
        axes.set_ylim(-0.5, 0.75)
        axes.set_yticks([])
        axes.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        axes.set_title(f"occupancy {ratio:.1%}: {count:,} of {limit:,} entries",
                       loc="left", fontsize=9.5)  # fmt: skip
        return _svg(figure, chart_id)
