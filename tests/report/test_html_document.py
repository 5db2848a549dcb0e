"""Reshaping pytest-html's page, in parts: what happens when the page is not pytest-html
4.2's (nothing that could hide a WARN row), and the log under a result (the real page is
tested in test_plugin.py and, rendered by Chromium, in test_screenshot.py)."""

from __future__ import annotations

import html
import json

from ctdiag.model.verdict import Level, Verdict
from ctdiag.report.html_document import count_line, insert_front, label_warnings, result_log
from ctdiag.report.model import CheckResult, Outcome
from ctdiag.report.redact import Redactor
from tests.report.samples import SCRIPT

ROW = {"result": "Passed", "resultsTableRow": ['<td class="col-result">Passed</td>'], "log": ""}
BLOB = html.escape(json.dumps({"tests": {"t.py::test_w[a]": [ROW]}}), quote=True)
FILTER = ('<input checked="true" class="filter" name="filter_checkbox" type="checkbox" '
          'data-test-result="passed" >\n<span class="passed">1 Passed,</span>')  # fmt: skip
SCRIPT_JS = "<script>const possibleFilters = [\n'passed',\n]\n" \
    "const initialOrder = ['Error', 'Failed', 'Passed']</script>"  # fmt: skip


def _page(*, js: str = SCRIPT_JS) -> str:
    blob = f'<div id="data-container" data-jsonblob="{BLOB}"></div>'
    count = '<p class="run-count">1 test took 5 ms.</p>'
    return f'<html><body><h1 id="title">t</h1>{count}{FILTER}{blob}{js}</body></html>'


def test_warn_rows_labelled_with_their_filter_and_sort_place() -> None:
    # A node's text may spell the script's code, outside any <script>: it is left alone.
    spelled = "<p>const possibleFilters = [ const initialOrder = ['Error', 'Failed', </p>"
    page = label_warnings(_page().replace("<h1", f"{spelled}<h1"), {"t.py::test_w[a]"})
    assert spelled in page
    assert "<script>const possibleFilters = ['warn', " in page
    assert "const initialOrder = ['Error', 'Failed', 'WARN', " in page
    assert '<span class="warn">1 WARN,</span>' in page
    assert 'data-test-result="passed" disabled>' in page  # no passed result left
    assert count_line(page).count("1 test took 5 ms: 0 failed, 1 WARN, 0 passed, 0 skipped") == 1


def test_a_page_of_another_shape_is_left_as_it_is() -> None:
    # Without the filter list to extend, a WARN row would be hidden by pytest-html's filter:
    # then no row is relabelled.
    other = _page(js="<script>const filters = ['passed']</script>")
    assert label_warnings(other, {"t.py::test_w[a]"}) == other
    assert count_line("<p>no count here</p>") == "<p>no count here</p>"
    assert insert_front("<body><p>x</p>", "<b>v</b>") == "<body><b>v</b><p>x</p>"


def _result(level: Level, finding: str) -> CheckResult:
    outcome = Outcome.FAILED if level is Level.FAIL else Outcome.PASSED
    return CheckResult.build(nodeid="c.py::t[a]", check="t", node="a", outcome=outcome,
                             verdict=Verdict(level, finding))  # fmt: skip


def test_the_log_says_only_what_the_check_block_does_not() -> None:
    plain = Redactor(enabled=False).text
    fail = _result(Level.FAIL, f"finding {SCRIPT}")
    assert result_log(None, f"FAIL: finding {SCRIPT}\nremedy: x", fail, [], root="/r",
                      redact=plain) == []  # fmt: skip
    skip = ("/r/checks/test_x.py", 3, "Skipped: no overlay")
    assert result_log(skip, str(skip), None, [], root="/r", redact=plain) == [
        "Skipped: no overlay\n"
    ]  # fmt: skip
    crash = "Traceback:\n  File /r/checks/test_x.py, line 3\nValueError: <boom>"
    log = result_log(None, crash, fail, [("Captured stdout call", f"{SCRIPT} at /r/x")],
                     root="/r/", redact=plain)  # fmt: skip
    assert log[0] == "Traceback:\n  File checks/test_x.py, line 3\nValueError: &lt;boom&gt;\n"
    assert log[1].startswith("-" * 29 + " Captured stdout call ")
    assert log[1].endswith("&lt;script&gt;alert(1)&lt;/script&gt; at x")


def test_an_error_line_chained_to_itself_is_said_once() -> None:
    error = CheckResult.build(nodeid="c.py::t[a]", check="t", node="a", outcome=Outcome.ERROR,
                              verdict=None, line="a: gone")  # fmt: skip
    during = "During handling of the above exception, another exception occurred:"
    chained = f"a: gone\n\n{during}\na: gone"
    assert error.says_all_of(chained) and error.says_all_of("Failed: a: gone")
    assert not error.says_all_of("a: gone\nsomething else")
