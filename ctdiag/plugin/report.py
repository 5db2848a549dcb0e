"""The HTML report (pytest-html) and summary.json: per-node sections, evidence, redaction.

Options: ``--redact`` (addresses become tokens in the HTML report, JUnit XML and
summary.json), ``--summary-json PATH`` (default: the ``--html`` report's name with
``.summary.json``), ``--report-lines N`` (lines of each raw output attached),
``--junit-warn-as-skipped``. The content is built by :mod:`ctdiag.report`; the
:class:`~ctdiag.plugin.report_run.CtdiagReport` plugin only moves data between pytest,
pytest-html and it, and at the end of the session reshapes the files pytest-html and pytest's
junitxml wrote (verdict first, WARN labelled, cases grouped by node). Files are written on
the controller only (never by pytest-xdist workers).

This module is light: the report's machinery (numpy, matplotlib for the charts) is imported
at session start, and only by a run that checks nodes.
"""

from __future__ import annotations

import pytest

from ctdiag.plugin.nodes import REGISTRY
from ctdiag.report.raw_outputs import DEFAULT_OUTPUT_LINES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag-report", "ctdiag: report")
    group.addoption("--redact", action="store_true", dest="ctdiag_redact",
                    help="replace every IP address by a token (one address, one token) in the "
                         "HTML report, JUnit XML and summary.json")  # fmt: skip
    group.addoption("--summary-json", dest="ctdiag_summary_json", metavar="PATH",
                    help="write the verdict, per-node figures and check levels as JSON to "
                         "PATH (default: the --html report's name with .summary.json, "
                         "reports/x.html -> reports/x.summary.json)")  # fmt: skip
    group.addoption("--junit-warn-as-skipped", action="store_true",
                    dest="ctdiag_junit_warn_as_skipped",
                    help="in the --junitxml file, mark passing WARN checks <skipped> "
                         "(type ctdiag.warn) so CI counts them apart; they always carry "
                         "'WARN: finding' in <system-out>")  # fmt: skip
    group.addoption("--report-lines", dest="ctdiag_report_lines", type=int, metavar="N",
                    default=DEFAULT_OUTPUT_LINES,
                    help="lines of each raw output attached to the HTML report "
                         f"(default {DEFAULT_OUTPUT_LINES})")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    if config.option.ctdiag_report_lines < 1:
        raise pytest.UsageError("--report-lines must be >= 1")
    config.pluginmanager.register(ReportWhenChecking(), "ctdiag-report-start")


class ReportWhenChecking:
    """Registers the report's plugin at session start when the run checks nodes (every
    ``pytest_configure`` has chosen them by then): nothing of it is loaded otherwise."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = session.config
        if not config.stash[REGISTRY].targets:
            return
        from ctdiag.plugin.report_run import CtdiagReport, WorkerFigures

        report = CtdiagReport(config)
        config.pluginmanager.register(report, "ctdiag-report")
        if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
            config.pluginmanager.register(WorkerFigures(report), "ctdiag-report-xdist")
        report.pytest_sessionstart(session)  # registered during this hook: called by hand


