"""The report's plugin for a run that checks nodes (registered by :mod:`ctdiag.plugin.report`).

It collects each check's result as its report comes, the node figures at the end, and
finishes the HTML report, JUnit XML and summary.json (see :mod:`ctdiag.plugin.report`).
"""


from __future__ import annotations

import base64
import pickle
import socket
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_html import extras
from pytest_metadata.plugin import metadata_key

from ctdiag.plugin.nodes import REGISTRY, NodeRegistry
from ctdiag.plugin.report_files import finish_files, redact_files, summary_file
from ctdiag.plugin.verdicts import THRESHOLDS, VERDICT, VERDICT_SECTION
from ctdiag.report.environment import node_environment, report_title, run_environment
from ctdiag.report.evidence import check_extra, node_anchor
from ctdiag.report.figures import node_figures
from ctdiag.report.front_page import front_page
from ctdiag.report.html_document import result_log
from ctdiag.report.junit_xml import TEST_ID_PROPERTY
from ctdiag.report.model import CheckResult, NodeFigures, Outcome
from ctdiag.report.redact import Redactor
from ctdiag.report.run_verdict import run_verdict
from ctdiag.report.sections import level_badge, node_section, node_views, overview
from ctdiag.report.summary_json import summary_document, summary_text

#: A test's result travels on its report under this attribute (as JSON, for pytest-xdist).
CHECK_ATTRIBUTE = "ctdiag_check"
_TEST_ID_CELL = '<td class="col-testId">'


def _node_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    node = callspec.params.get("node") if callspec is not None else None
    return node if isinstance(node, str) else None


def _check_name(item: pytest.Item, node: str) -> str:
    """The check's name, with its parameters other than the node (``test_tunables[x]``)."""
    name = getattr(item, "originalname", item.name)
    callspec_id = str(getattr(getattr(item, "callspec", None), "id", node))
    if callspec_id.startswith(node):
        rest = callspec_id[len(node) :].removeprefix("-")
    elif callspec_id.endswith(node):
        rest = callspec_id[: -len(node)].removesuffix("-")
    else:
        rest = callspec_id
    return f"{name}[{rest}]" if rest else name


def _line(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    text = call.excinfo.exconly().strip()
    for prefix in ("Failed: ", "Skipped: "):
        text = text.removeprefix(prefix)
    return text.splitlines()[0] if text else ""


class CtdiagReport:
    """The plugin instance of one run: check results as they come, node figures at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.redactor = Redactor(enabled=bool(config.option.ctdiag_redact))
        self.started = datetime.now(UTC)
        self.results: list[CheckResult] = []
        self.figures: dict[str, NodeFigures] = {}
        self.summary_path = summary_file(config)
        self.summary_written = False

    @property
    def registry(self) -> NodeRegistry | None:
        return self.config.stash.get(REGISTRY, None)

    @property
    def nodes(self) -> list[str]:
        return list(self.registry.targets) if self.registry is not None else []

    @property
    def title(self) -> str:
        return report_title(self.nodes, socket.gethostname(), self.started, self.redactor)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        metadata = session.config.stash.get(metadata_key, None)
        if metadata is not None and self.nodes:
            thresholds = session.config.stash[THRESHOLDS]
            metadata.update(run_environment(thresholds, self.nodes, self.redactor))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = self.title

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        node = _node_of(item)
        if node is not None and report.when == "setup":
            # Names the case in the JUnit XML, which is reshaped at the end by this id.
            item.user_properties.append((TEST_ID_PROPERTY, report.nodeid))
        wanted = report.when == "call" or (report.when == "setup" and not report.passed)
        if node is None or not wanted:
            return report
        outcome = (
            Outcome.ERROR if report.when == "setup" and report.failed else Outcome(report.outcome)
        )
        verdict = item.stash.get(VERDICT, None) if report.when == "call" else None
        result = CheckResult.build(
            nodeid=report.nodeid, check=_check_name(item, node), node=node,
            outcome=outcome, verdict=verdict, line=_line(call),
        )  # fmt: skip
        setattr(report, CHECK_ATTRIBUTE, result.to_json())
        block = check_extra(result, self.redactor, node_anchor(self.nodes, node))
        setattr(report, "extras", [*getattr(report, "extras", []), extras.html(block)])  # noqa: B010
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, CHECK_ATTRIBUTE, None)
        if isinstance(data, dict):
            self.results.append(CheckResult.from_json(data))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="node">Node</th>')
        cells.insert(3, '<th class="sortable" data-column-type="level">Level</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        if cells and cells[1].startswith(_TEST_ID_CELL):
            # pytest-html puts the test id in unescaped, and node names are in test ids.
            test_id = report.nodeid + ("" if report.when == "call" else f"::{report.when}")
            cells[1] = f"{_TEST_ID_CELL}{self.redactor.html(test_id)}</td>"
        data = getattr(report, CHECK_ATTRIBUTE, None)
        node = self.redactor.html(data["node"]) if isinstance(data, dict) else ""
        level = level_badge(str(data["level"])) if isinstance(data, dict) else ""
        cells.insert(2, f'<td class="col-node">{node}</td>')
        cells.insert(3, f'<td class="col-level">{level}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        data_ = getattr(report, CHECK_ATTRIBUTE, None)
        check = CheckResult.from_json(data_) if isinstance(data_, dict) else None
        # The verdict's message is in the check's block; that section is for the terminal.
        sections = [(h, c) for h, c in report.sections if h != VERDICT_SECTION]
        # str(longrepr), not longreprtext: under xdist that starts with the worker's line
        # ("[gw0] linux -- Python 3.11.7 /path/to/python").
        text = "" if report.longrepr is None else str(report.longrepr)
        data[:] = result_log(report.longrepr, text, check, sections,
                             root=str(self.config.rootpath), redact=self.redactor.text)  # fmt: skip

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        del prefix, postfix, session
        registry = self.registry
        if registry is None or not (self.nodes or self.results):
            return
        views = node_views(self.nodes, self.figures, registry.failures, self.results)
        summary.append(overview(views, self.redactor))
        thresholds = self.config.stash[THRESHOLDS]
        summary.extend(node_section(view, thresholds, self.redactor) for view in views)

    def _collect_figures(self) -> None:
        registry = self.registry
        if registry is None:
            return
        lines = int(self.config.option.ctdiag_report_lines)
        for name, state in registry.states.items():
            self.figures[name] = node_figures(state, max_lines=lines)
        metadata = self.config.stash.get(metadata_key, None)
        if metadata is not None and self.nodes:
            failures = registry.failures
            metadata.update(node_environment(self.nodes, self.figures, failures, self.redactor))

    def _write_summary(self, path: Path) -> None:
        registry = self.registry
        document = summary_document(
            title=self.title, generated_at=datetime.now(UTC), node_names=self.nodes,
            figures=self.figures, failures=registry.failures if registry else {},
            checks=self.results, thresholds=self.config.stash[THRESHOLDS],
            redacted=self.redactor.enabled,
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(summary_text(document, self.redactor), encoding="utf-8")
        self.summary_written = True

    def _finish_files(self) -> None:
        registry = self.registry
        failures = registry.failures if registry is not None else {}
        views = node_views(self.nodes, self.figures, failures, self.results)
        verdict = run_verdict(self.nodes, failures, self.results)
        front = front_page(verdict, {v.name: v.anchor for v in views}, self.redactor)
        warned = {
            r.nodeid for r in self.results if r.level == "WARN" and r.outcome is Outcome.PASSED
        }
        results = {result.nodeid: result for result in self.results}
        finish_files(self.config, front=front, warned=warned, results=results)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        controller = not hasattr(session.config, "workerinput")
        if not controller:  # before xdist's own hook sends workeroutput to the controller
            self._collect_figures()
            registry = self.registry
            failures = dict(registry.failures) if registry is not None else {}
            session.config.workeroutput[WORKER_FIGURES] = _pack((self.figures, failures))  # type: ignore[attr-defined]
        if controller and (self.nodes or self.results):
            self._collect_figures()
            if self.summary_path is not None:
                self._write_summary(self.summary_path)
        result = yield
        if controller and (self.nodes or self.results):
            self._finish_files()
        if controller and self.redactor.enabled:
            redact_files(session.config, self.redactor)
        return result

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.summary_written:
            terminalreporter.write_sep("-", f"ctdiag summary: {self.summary_path}")


#: Where an xdist worker leaves the figures of the nodes it collected.
WORKER_FIGURES = "ctdiag_figures"


def _pack(value: object) -> str:
    # workeroutput crosses to the controller as plain data; both ends are this program.
    return base64.b64encode(pickle.dumps(value)).decode()


class WorkerFigures:
    """On the xdist controller: gathers the node figures each worker collected, so the
    report and summary.json hold every node (the node states live on the workers)."""

    def __init__(self, report: CtdiagReport) -> None:
        self._report = report

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        del error
        packed = getattr(node, "workeroutput", {}).get(WORKER_FIGURES)
        if not packed:
            return
        figures, failures = pickle.loads(base64.b64decode(packed))
        self._report.figures.update(figures)
        registry = self._report.registry
        if registry is not None:
            registry.failures.update(failures)
