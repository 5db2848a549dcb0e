"""The report's stylesheet: ctdiag's own elements, and the colours of pytest-html's page
made readable.

pytest-html 4.2 prints most text in ``#999`` on white (2.8:1), skips in orange (2.0:1) and
failures in pure red (4.0:1, 3.2:1 on its grey log). Every colour pair here is given with
the background it is read on, so :func:`contrast_ratio` can hold each to WCAG AA (4.5:1
for normal text); the sheet comes after pytest-html's, so its rules win at equal
specificity.
"""

from __future__ import annotations

from dataclasses import dataclass

#: WCAG 2.x AA for normal text.
MIN_CONTRAST = 4.5


@dataclass(frozen=True, slots=True)
class ColourRule:
    """Text colour of ``selector`` and the background it is read on.

    Attributes:
        selector: the CSS selector.
        color: text colour (``#rrggbb``).
        background: the background behind the text (``#rrggbb``).
        fill: whether this rule paints that background itself (else it is inherited).
    """

    selector: str
    color: str
    background: str
    fill: bool = False

    def css(self) -> str:
        fill = f";background:{self.background}" if self.fill else ""
        return f"{self.selector}{{color:{self.color}{fill}}}"


WHITE = "#ffffff"
LOG_GREY = "#e6e6e6"  # pytest-html's log background
COLOURS: tuple[ColourRule, ...] = (
    ColourRule("body,#results-table,#environment td", "#222222", WHITE),
    ColourRule("a,#results-table a", "#0b57d0", WHITE),
    ColourRule(".filters button,.collapse button", "#444444", WHITE),
    ColourRule("span.passed,.passed .col-result", "#1b5e20", WHITE),
    ColourRule("span.warn,.warn .col-result", "#8a4b00", WHITE),
    ColourRule(
        "span.skipped,span.xfailed,span.rerun,.skipped .col-result,.xfailed .col-result,"
        ".rerun .col-result",
        "#555555",
        WHITE,
    ),
    ColourRule(
        "span.error,span.failed,span.xpassed,.error .col-result,.failed .col-result,"
        ".xpassed .col-result",
        "#b71c1c",
        WHITE,
    ),
    ColourRule(".logwrapper .log", "#222222", LOG_GREY),
    ColourRule(".logwrapper .log span.error", "#8b0000", LOG_GREY),
    ColourRule(".ctdiag-level", WHITE, "#616161", fill=True),
    ColourRule(".ctdiag-level.l-PASS", WHITE, "#2e7d32", fill=True),
    ColourRule(".ctdiag-level.l-WARN", WHITE, "#9a5b00", fill=True),
    ColourRule(".ctdiag-level.l-FAIL", WHITE, "#c62828", fill=True),
    ColourRule(".ctdiag-level.l-ERROR", WHITE, "#6a1b9a", fill=True),
    ColourRule(".ctdiag-meta", "#444444", WHITE),
    ColourRule(".ctdiag-meta code", "#222222", "#f3f3f3", fill=True),
    ColourRule(".ctdiag-problem,.ctdiag-error", "#b71c1c", WHITE),
    ColourRule(".ctdiag-note", "#555555", WHITE),
    ColourRule(".ctdiag-outputs pre,.ctdiag-evidence pre", "#222222", "#f7f7f7", fill=True),
    ColourRule(".ctdiag-verdict,.ctdiag-verdict p,.ctdiag-verdict td", "#222222", WHITE),
    ColourRule(".ctdiag-verdict .ctdiag-trade-off", "#555555", WHITE),
)

LAYOUT = """
.ctdiag-node,.ctdiag-overview,.ctdiag-verdict{margin:1.2em 0;padding:.6em 1em;
 border:1px solid #ccc;border-radius:4px;background:#fff}
.ctdiag-node h2,.ctdiag-overview h2,.ctdiag-verdict h2{margin:.2em 0}
.ctdiag-node h3,.ctdiag-verdict h3{margin:.9em 0 .3em}
.ctdiag-verdict{font-size:14px;border-left-width:8px}
.ctdiag-verdict h2{font-size:20px}.ctdiag-verdict h2 .ctdiag-level{font-size:20px}
.ctdiag-verdict.v-FAIL{border-left-color:#c62828}.ctdiag-verdict.v-ERROR{border-left-color:#6a1b9a}
.ctdiag-verdict.v-WARN{border-left-color:#9a5b00}.ctdiag-verdict.v-PASS{border-left-color:#2e7d32}
.ctdiag-verdict p{margin:.35em 0}.ctdiag-verdict .ctdiag-table{width:100%}
.ctdiag-findings td:nth-child(-n+2){white-space:nowrap}
/* pytest-html drops an empty log's text (it is in the check's block), not its grey box */
.logwrapper:not(:has(.log)){display:none}
.ctdiag-meta{margin:.2em 0}.ctdiag-meta code{padding:0 .2em}
.ctdiag-table{border-collapse:collapse;margin:.3em 0}
.ctdiag-table td,.ctdiag-table th{border:1px solid #ddd;padding:2px 8px;text-align:left;
 vertical-align:top}
.ctdiag-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.ctdiag-charts{display:flex;flex-wrap:wrap;gap:.6em}
.ctdiag-chart{max-width:100%;height:auto}
.ctdiag-level{font-weight:bold;padding:0 .4em;border-radius:3px;white-space:nowrap}
.ctdiag-note{font-style:italic}
.ctdiag-outputs pre,.ctdiag-evidence pre{max-height:30em;overflow:auto;padding:.4em;
 white-space:pre;font-size:90%}
/* long entries scroll in their block instead of widening the results table past the page */
.ctdiag-evidence{max-width:calc(100vw - 5em);overflow-x:auto}
"""


def stylesheet() -> str:
    """The ``<style>`` element of the report (layout, then the colours)."""
    colours = "\n".join(rule.css() for rule in COLOURS)
    return f"<style>{LAYOUT}{colours}\n</style>"


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
