"""pytest-html 4.2's finished page, reshaped: the verdict first, the environment collapsed
below it, WARN results labelled and filterable, the counts line complete; and the log
under each result without what the check's own block already says.

Pure text in, text out. pytest-html renders its results from JSON in one attribute with
its own JavaScript, whose result filters are a fixed list; :func:`label_warnings` changes
the data, the filter boxes and that list together, or (when this pytest-html's page does
not have the expected shape) nothing at all, so a WARN row is never hidden by a filter
that does not know it.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ctdiag.report.model import CheckResult

WARN_RESULT = "WARN"
_TITLE = re.compile(r'<h1 id="title">.*?</h1>', re.DOTALL)
_BODY = re.compile(r"<body\b[^>]*>")
_BLOB = re.compile(r'(data-jsonblob=")([^"]*)(")')
_PASSED_FILTER = re.compile(
    r'(<input\b[^>]*data-test-result="passed"[^>]*?)( disabled)?\s*>(\s*)'
    r'<span class="passed">(\d+) ([^<]*)</span>'
)
_RUN_COUNT = re.compile(r'<p class="run-count">\d+ tests? took ([^<]*?)\.</p>')
_JS_FILTERS = "const possibleFilters = ["
_JS_ORDER = "const initialOrder = ['Error', 'Failed', "
_PASSED_CELL = '<td class="col-result">Passed</td>'
#: How the counts line names each result, in its order (the first five always shown).
_COUNTED = (("Failed", "failed"), (WARN_RESULT, "WARN"), ("Passed", "passed"),
            ("Skipped", "skipped"), ("Error", "error"), ("XFailed", "xfailed"),
            ("XPassed", "xpassed"), ("Rerun", "rerun"))  # fmt: skip
#: pytest-html's script. Text from a node can spell the JavaScript above, but never a
#: <script> element (it is escaped), so the script is searched for in these only.
_SCRIPT = re.compile(r"(<script>)(.*?)(</script>)", re.DOTALL)


def _blob(document: str) -> tuple[re.Match[str], dict[str, Any]] | None:
    match = _BLOB.search(document)
    if match is None:
        return None
    try:
        data = json.loads(html.unescape(match.group(2)))
    except json.JSONDecodeError:
        return None
    return (match, data) if isinstance(data, dict) and isinstance(data.get("tests"), dict) else None


def _with_blob(document: str, match: re.Match[str], data: dict[str, Any]) -> str:
    encoded = html.escape(json.dumps(data), quote=True)
    return f"{document[: match.start(2)]}{encoded}{document[match.end(2) :]}"


def insert_front(document: str, front: str) -> str:
    """``front`` right after the title (or first in the body)."""
    anchor = _TITLE.search(document) or _BODY.search(document)
    if anchor is None:
        return front + document
    return f"{document[: anchor.end()]}{front}{document[anchor.end() :]}"


def collapse_environment(document: str) -> str:
    """pytest-html's environment table, collapsed (its header still toggles it)."""
    document = document.replace(
        '<div id="environment-header">', '<div id="environment-header" class="collapsed">', 1
    )
    document = document.replace("<h2>Environment</h2>", "<h2>Environment and thresholds</h2>", 1)
    table = '<table id="environment">'
    return document.replace(table, table.replace(">", ' class="hidden">'), 1)


def label_warnings(document: str, warned: Collection[str]) -> str:
    """Passing results of the tests in ``warned`` (node ids) labelled ``WARN``, with a filter
    box of their own and a place in pytest-html's filter and sort lists; or, when the page
    does not have the shape of pytest-html 4.2, the document unchanged."""
    found = _blob(document)
    filters = list(_PASSED_FILTER.finditer(document))
    scripts = [m for m in _SCRIPT.finditer(document) if _JS_FILTERS in m.group(2)]
    if (found is None or len(filters) != 1 or len(scripts) != 1
            or scripts[0].group(2).count(_JS_FILTERS) != 1
            or scripts[0].group(2).count(_JS_ORDER) != 1):  # fmt: skip
        return document
    match, data = found
    labelled = 0
    for nodeid, runs in data["tests"].items():
        if nodeid not in warned:
            continue
        for run in runs:
            if run.get("result") == "Passed":
                run["result"] = WARN_RESULT
                cells = run.get("resultsTableRow", [])
                run["resultsTableRow"] = [
                    c.replace(_PASSED_CELL, f'<td class="col-result">{WARN_RESULT}</td>', 1)
                    for c in cells
                ]
                labelled += 1
    document = _with_blob(document, match, data)
    box = _PASSED_FILTER.search(document)
    assert box is not None  # found above; the blob holds no raw '<'
    passed = int(box.group(4)) - labelled
    warn_box = (
        '<input checked="true" class="filter" name="filter_checkbox" type="checkbox" '
        f'data-test-result="warn"{"" if labelled else " disabled"}>{box.group(3)}'
        f'<span class="warn">{labelled} WARN,</span>{box.group(3)}'
    )
    passed_box = (
        f'{box.group(1)}{"" if passed else " disabled"}>{box.group(3)}'
        f'<span class="passed">{passed} {box.group(5)}</span>'
    )
    document = f"{document[: box.start()]}{warn_box}{passed_box}{document[box.end() :]}"
    script = next(m for m in _SCRIPT.finditer(document) if _JS_FILTERS in m.group(2))
    code = script.group(2).replace(_JS_FILTERS, f"{_JS_FILTERS}'warn', ", 1)
    code = code.replace(_JS_ORDER, f"{_JS_ORDER}'{WARN_RESULT}', ", 1)
    return f"{document[: script.start(2)]}{code}{document[script.end(2) :]}"


def count_line(document: str) -> str:
    """pytest-html's "N tests took T." (which leaves out skips and errors) with every result
    counted: ``44 tests took 00:00:03: 2 failed, 1 WARN, 12 passed, 7 skipped, 22 errors.``"""
    found = _blob(document)
    line = _RUN_COUNT.search(document)
    if found is None or line is None:
        return document
    results = Counter(run.get("result") for runs in found[1]["tests"].values() for run in runs)
    parts = []
    for index, (result, word) in enumerate(_COUNTED):
        count = results.pop(result, 0)
        if index < 5 or count:
            plural = "s" if word == "error" and count != 1 else ""
            parts.append(f"{count:,} {word}{plural}")
    parts += [f"{n:,} {html.escape(str(name))}" for name, n in results.items()]
    total = sum(1 for runs in found[1]["tests"].values() for _ in runs)
    text = f"{total:,} test{'' if total == 1 else 's'} took {line.group(1)}: {', '.join(parts)}."
    return f'{document[: line.start()]}<p class="run-count">{text}</p>{document[line.end() :]}'


def finish_document(document: str, *, front: str, warned: Collection[str]) -> str:
    """The whole reshaping of a finished pytest-html page (see the module's docstring)."""
    document = collapse_environment(insert_front(document, front))
    return count_line(label_warnings(document, warned))


def result_log(
    longrepr: object,
    longrepr_text: str,
    check: CheckResult | None,
    sections: Sequence[tuple[str, str]],
    *,
    root: str,
    redact: Callable[[str], str],
) -> list[str]:
    """The log under a result as pytest-html lays it out, escaped: the failure text unless
    the check's block says it already, a skip's reason (never pytest's ``(path, line,
    reason)`` tuple), the captured sections; paths under ``root`` made relative.

    Args:
        longrepr: the report's ``longrepr``.
        longrepr_text: the report's ``longrepr`` as text.
        check: the result whose block is under the row, if it has one.
        sections: the captured sections ``(header, content)`` to show.
        root: the run's root directory.
        redact: the run's redaction of text.
    """
    skipped = isinstance(longrepr, tuple) and len(longrepr) == 3
    text = str(longrepr[2]) if skipped else longrepr_text  # type: ignore[index]
    if check is not None and check.says_all_of(text):
        text = ""
    elif skipped and not text.startswith("Skipped: "):
        text = f"Skipped: {text}"

    def shown(value: str) -> str:
        value = value.replace(root.rstrip("/") + "/", "") if root else value
        return html.escape(redact(value))

    log = [shown(text) + "\n"] if text else []
    log += [f"{' ' + shown(header) + ' ':-^80}\n{shown(content)}" for header, content in sections]
    return log  # empty: pytest-html's page leaves the log out
