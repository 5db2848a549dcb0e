"""Where the report's files are, and their reshaping once pytest-html and pytest's junitxml
have written them (end of the session, on the controller): the verdict first and WARN
labelled in the HTML report, cases grouped by node in the JUnit XML, then redaction.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

import pytest

from ctdiag.report.html_document import finish_document
from ctdiag.report.junit_xml import finish_junit
from ctdiag.report.model import CheckResult
from ctdiag.report.redact import Redactor


def _resolved(option: str) -> Path:
    # As pytest-html resolves --html.
    return Path.cwd() / Path(os.path.expandvars(option)).expanduser()


def html_file(config: pytest.Config) -> Path | None:
    """The ``--html`` report, if asked for."""
    option = getattr(config.option, "htmlpath", None)
    return _resolved(option) if option else None


def junit_file(config: pytest.Config) -> Path | None:
    """The ``--junitxml`` file, if asked for (resolved as pytest's junitxml does)."""
    option = getattr(config.option, "xmlpath", None)
    return Path(os.path.expandvars(option)).expanduser().absolute() if option else None


def summary_beside(report: Path) -> Path:
    """Where summary.json goes without ``--summary-json``: ``x.html`` -> ``x.summary.json``,
    so two reports in one folder keep a summary each."""
    stem = report.name.removesuffix(".html") if report.suffix == ".html" else report.name
    return report.with_name(f"{stem}.summary.json")


def summary_file(config: pytest.Config) -> Path | None:
    """``--summary-json``, else beside the ``--html`` report; ``None`` on xdist workers."""
    if hasattr(config, "workerinput"):
        return None
    if config.option.ctdiag_summary_json:
        return _resolved(config.option.ctdiag_summary_json)
    report = html_file(config)
    return summary_beside(report) if report is not None else None


def finish_files(
    config: pytest.Config,
    *,
    front: str,
    warned: Collection[str],
    results: Mapping[str, CheckResult],
) -> None:
    """Reshape the HTML report and the JUnit XML that exist.

    Args:
        config: the run's config.
        front: the verdict block, to go first in the report.
        warned: node ids of the tests whose passing result is a WARN.
        results: check results by node id.
    """
    report = html_file(config)
    if report is not None and report.is_file():
        document = finish_document(report.read_text("utf-8"), front=front, warned=warned)
        report.write_text(document, "utf-8")
    junit = junit_file(config)
    if junit is not None and junit.is_file():
        as_skipped = bool(config.option.ctdiag_junit_warn_as_skipped)
        text = finish_junit(junit.read_text("utf-8"), results, warn_as_skipped=as_skipped)
        junit.write_text(text, "utf-8")


def redact_files(config: pytest.Config, redactor: Redactor) -> None:
    """Redact the HTML report and the JUnit XML, as a safety net for the text that pytest and
    pytest-html put there themselves."""
    report = html_file(config)
    if report is not None and report.is_file():
        report.write_text(redactor.html_document(report.read_text("utf-8")), "utf-8")
    junit = junit_file(config)
    if junit is not None and junit.is_file():
        junit.write_text(redactor.text(junit.read_text("utf-8")), "utf-8")
