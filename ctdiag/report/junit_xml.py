"""pytest's JUnit XML, reshaped for CI systems: test cases grouped by node, WARN where CI
shows it, failure messages that are the finding.

For every check of a node (found by its ``ctdiag_test_id`` property):

- ``classname`` is the node and ``name`` the check with its other parameters
  (``ctdlab-node1`` / ``test_tunables[nf_conntrack_tcp_loose]``), so CI groups by node;
- properties ``ctdiag_test_id`` (the pytest node id, to rerun it), ``ctdiag_level``
  (``PASS``, ``WARN``, ``FAIL``, ``ERROR``, ``SKIP``), ``ctdiag_finding`` and, when there
  is one, ``ctdiag_remedy`` and ``ctdiag_trade_off``;
- ``<failure>``/``<error>``/``<skipped>`` ``message`` is the finding or the error or skip
  line alone (never ``Failed: FAIL: ...``); the text is the verdict's message, or that
  line once (a skip's without the check file's path);
- a WARN that passed gets a ``<system-out>`` starting ``WARN: finding`` with its remedy
  and evidence (CI systems show a passing case's output), or, with ``warn_as_skipped``, a
  ``<skipped type="ctdiag.warn" message="WARN: finding">`` so CI counts it apart.

Pure text in, text out (:mod:`xml.etree.ElementTree` on pytest's own output).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ctdiag.report.model import CheckResult

TEST_ID_PROPERTY = "ctdiag_test_id"
WARN_SKIP_TYPE = "ctdiag.warn"


def _properties(case: ET.Element) -> ET.Element:
    found = case.find("properties")
    if found is None:
        found = ET.Element("properties")
        case.insert(0, found)
    return found


def _test_id(case: ET.Element) -> str | None:
    for prop in case.iter("property"):
        if prop.get("name") == TEST_ID_PROPERTY:
            return prop.get("value")
    return None


def _set_properties(case: ET.Element, values: Mapping[str, str]) -> None:
    properties = _properties(case)
    for prop in list(properties):
        if prop.get("name") in values:
            properties.remove(prop)
    for name, value in values.items():
        if value:
            ET.SubElement(properties, "property", name=name, value=value)


def warn_text(result: CheckResult) -> str:
    """What a WARN says, as the terminal prints it: finding, remedy, evidence."""
    lines = [f"{result.level}: {result.finding}"]
    if result.remedy:
        lines.append(f"remedy: {result.remedy}")
    if result.trade_off:
        lines.append(f"trade-off: {result.trade_off}")
    if result.evidence:
        shown = len(result.evidence)
        total = result.evidence_total
        more = f" (first {shown} of {total})" if total > shown else ""
        lines.append(f"evidence{more}:")
        lines.extend(f"  {line}" for line in result.evidence)
    return "\n".join(lines)


def _mark_warn(suite: ET.Element, case: ET.Element, result: CheckResult, as_skipped: bool) -> None:
    text = warn_text(result)
    if as_skipped:
        skipped = ET.Element("skipped", type=WARN_SKIP_TYPE, message=f"WARN: {result.finding}")
        case.insert(1, skipped)  # after <properties>, before any <system-out>
        skipped.text = text
        suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
    out = case.find("system-out")
    if out is None:
        out = ET.SubElement(case, "system-out")
        out.text = text + "\n"
    else:
        out.text = f"{text}\n\n{out.text or ''}"


def _finish_case(
    suite: ET.Element, case: ET.Element, result: CheckResult, as_skipped: bool
) -> None:
    assert result.node is not None
    case.set("classname", result.node)
    case.set("name", result.check)
    _set_properties(case, {
        "ctdiag_level": result.level, "ctdiag_finding": result.finding,
        "ctdiag_remedy": result.remedy, "ctdiag_trade_off": result.trade_off,
    })  # fmt: skip
    for tag in ("failure", "error", "skipped"):
        for element in case.findall(tag):
            element.set("message", result.finding)
            if tag == "skipped" or (tag == "error" and result.says_all_of(element.text or "")):
                element.text = result.finding  # once, without the check file's path
    outcome = {child.tag for child in case} & {"failure", "error", "skipped"}
    if result.level == "WARN" and not outcome:
        _mark_warn(suite, case, result, as_skipped)


def finish_junit(
    text: str, results: Mapping[str, CheckResult], *, warn_as_skipped: bool = False
) -> str:
    """pytest's JUnit XML document with every check of a node reshaped (module docstring).

    Args:
        text: the XML document pytest wrote.
        results: check results by pytest node id.
        warn_as_skipped: passing WARN cases get a ``<skipped>`` element too.
    """
    root = ET.fromstring(text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        for case in suite.findall("testcase"):
            test_id = _test_id(case)
            result = results.get(test_id) if test_id is not None else None
            if result is not None and result.node is not None:
                _finish_case(suite, case, result, warn_as_skipped)
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
