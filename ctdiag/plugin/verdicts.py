"""Thresholds and verdicts: the ``thresholds`` and ``judge`` fixtures, WARN outcomes.

A check hands its :class:`~ctdiag.model.verdict.Verdict` to ``judge``: FAIL fails the test with
the verdict's message (finding, numbers, threshold, source, remedy, evidence); WARN passes
but is shown as ``WARN`` in the terminal and the report, and fails with ``--strict-warn``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest

from ctdiag.assess.thresholds import SPECS, Thresholds, resolve
from ctdiag.errors import CtdiagError
from ctdiag.model.verdict import Level, Verdict

VERDICT = pytest.StashKey[Verdict]()
THRESHOLDS = pytest.StashKey[Thresholds]()
WARNED = "warned"
#: The report section holding a passing verdict's message (shown by ``-rA``).
VERDICT_SECTION = "ctdiag verdict"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag-thresholds", "ctdiag: thresholds (also ctdiag_NAME in ini)")
    group.addoption("--strict-warn", action="store_true",
                    help="fail checks whose result is between warn and fail")  # fmt: skip
    for spec in SPECS:
        option = "--" + spec.name.replace("_", "-")
        text = f"{spec.help} (default {spec.default:g}; {spec.source})"
        group.addoption(option, dest=f"ctdiag_{spec.name}", metavar="N", help=text)
        parser.addini(f"ctdiag_{spec.name}", text, default="")


def pytest_configure(config: pytest.Config) -> None:
    ini = {spec.name: str(config.getini(f"ctdiag_{spec.name}")) for spec in SPECS}
    cli = {spec.name: getattr(config.option, f"ctdiag_{spec.name}") for spec in SPECS}
    try:
        config.stash[THRESHOLDS] = resolve(ini, cli)
    except CtdiagError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def thresholds(pytestconfig: pytest.Config) -> Thresholds:
    """The thresholds of this run (ini, then command line, over the defaults)."""
    return pytestconfig.stash[THRESHOLDS]


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Callable[[Verdict], Verdict]:
    """Record a check's verdict; fail the test on FAIL (and on WARN with --strict-warn)."""
    strict = bool(request.config.option.strict_warn)

    def record(verdict: Verdict) -> Verdict:
        request.node.stash[VERDICT] = verdict
        # On the item, so every later report carries them (JUnit writes the teardown's).
        request.node.user_properties.append(("ctdiag_level", verdict.level.name))
        request.node.user_properties.append(("ctdiag_finding", verdict.headline))
        if verdict.level is Level.FAIL or (verdict.level is Level.WARN and strict):
            pytest.fail(verdict.message(), pytrace=False)
        return verdict

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.when == "call"
        and call.excinfo is not None
        and call.excinfo.errisinstance(CtdiagError)
    ):
        # The node could not be read (command failed, output missing or unreadable): an
        # ERROR with one line naming node and command, never a FAILED verdict.
        report.when = "setup"
        report.longrepr = f"{call.excinfo.typename}: {call.excinfo.value}"
        return report
    verdict = item.stash.get(VERDICT, None)
    if report.when == "call" and verdict is not None and verdict.level is not Level.FAIL:
        report.sections.append((VERDICT_SECTION, verdict.message()))
    return report


def _is_warn(report: pytest.TestReport) -> bool:
    return report.passed and ("ctdiag_level", Level.WARN.name) in report.user_properties


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    del config
    if report.when == "call" and _is_warn(report):
        return WARNED, "W", ("WARN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    warned = terminalreporter.stats.get(WARNED, [])
    if not warned:
        return
    terminalreporter.section("ctdiag warnings (between warn and fail; --strict-warn fails them)")
    for report in warned:
        finding = dict(report.user_properties).get("ctdiag_finding", "")
        terminalreporter.write_line(f"WARN {report.nodeid}: {finding}")
