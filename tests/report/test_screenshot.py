"""The report as a browser shows it: Debian's Chromium, headless, opens a real report (the
synthetic run of :mod:`tests.report.synthetic_run`), runs pytest-html's JavaScript, and
the page it renders must open on the verdict, label WARN rows WARN and filter them.

``--dump-dom`` gives the page after its JavaScript ran; ``--screenshot`` the first screen
(1280x900), decoded with Pillow: the verdict's FAIL colour must be on it, near the top.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from ctdiag.report.style import COLOURS
from tests.report.synthetic_run import OUTCOMES_LINE, run_report_in

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (scripts/bootstrap installs it)"
)
WINDOW = (1280, 900)
#: A hang guard for one Chromium run, not a speed goal.
BROWSER_TIMEOUT = 180
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={WINDOW[0]},{WINDOW[1]}")  # fmt: skip
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
FAIL_BADGE = next(rule.background for rule in COLOURS if rule.selector == ".ctdiag-level.l-FAIL")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="ctdtest-chromium-") as profile:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class _Elements(HTMLParser):
    """Every element of a serialized DOM: (depth, tag, attributes), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.found: list[tuple[int, str, dict[str, str]]] = []
        self.text: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((self.depth, tag, {k: v or "" for k, v in attrs}))
        if tag not in VOID:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        self.text.append((len(self.found) - 1, data))


def _dom(url: str) -> _Elements:
    parser = _Elements()
    parser.feed(_chromium("--dump-dom", url).stdout)
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("screenshot")
    done = run_report_in(directory, "{'node-a': samples.node_state}", "{'node-b': 'node-b: gone'}")
    assert OUTCOMES_LINE in done.stdout, done.stdout + done.stderr
    return directory / "out" / "report.html"


def _rows(dom: _Elements) -> list[str]:
    """The classes of the result rows pytest-html's JavaScript rendered (its templates'
    rows have no result class)."""
    return [
        attrs["class"] for _, tag, attrs in dom.found
        if tag == "tbody" and attrs.get("class", "").startswith("results-table-row ")
    ]  # fmt: skip


def test_the_rendered_page_opens_on_the_verdict_and_labels_warn(report: Path) -> None:
    dom = _dom(report.as_uri())
    body = next(i for i, (_, tag, _) in enumerate(dom.found) if tag == "body")
    depth = dom.found[body][0] + 1
    top = [(tag, attrs) for d, tag, attrs in dom.found[body + 1 :] if d == depth]
    shown = [(tag, attrs.get("id", "")) for tag, attrs in top if tag not in {"style", "template"}]
    assert shown[:2] == [("h1", "title"), ("section", "ctdiag-verdict")], shown[:4]
    environment = next(attrs for tag, attrs in top if attrs.get("id") == "environment")
    assert environment.get("class") == "hidden"
    rows = _rows(dom)
    assert len(rows) == 10, rows  # the JavaScript ran and hid nothing
    assert rows.count("results-table-row warn") == 1
    index = next(i for i, (_, tag, attrs) in enumerate(dom.found)
                 if tag == "tbody" and attrs.get("class") == "results-table-row warn")  # fmt: skip
    cell = next(i for i, (_, tag, attrs) in enumerate(dom.found)
                if i > index and attrs.get("class", "").startswith("col-result"))  # fmt: skip
    assert next(text for i, text in dom.text if i == cell) == "WARN"
    box = next(attrs for _, tag, attrs in dom.found if attrs.get("data-test-result") == "warn")
    assert "disabled" not in box


def test_the_warn_filter_filters(report: Path) -> None:
    assert _rows(_dom(report.as_uri() + "?visible=warn")) == ["results-table-row warn"]
    rows = _rows(_dom(report.as_uri() + "?visible=passed,failed"))
    assert sorted(rows) == ["results-table-row failed", *["results-table-row passed"] * 2]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_the_first_screen_shows_the_verdict(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "first-screen.png"
    _chromium(f"--screenshot={shot}", report.as_uri())
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB")
    top = pixels.crop((0, 0, WINDOW[0], 250))
    colours = top.getcolors(maxcolors=WINDOW[0] * 250) or []
    inked = sum(n for n, rgb in colours if rgb != (255, 255, 255))
    assert inked > 0.03 * WINDOW[0] * 250, "the top of the first screen is blank"
    badge = _rgb(FAIL_BADGE)
    near = sum(
        n for n, rgb in colours if max(abs(a - b) for a, b in zip(rgb, badge, strict=True)) <= 12
    )
    assert near > 300, "no FAIL verdict badge in the top 250 pixels"
