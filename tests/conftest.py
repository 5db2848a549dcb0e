"""The project's test policy: root-only tests skip on a developer's laptop, never in CI.

CI runs as root with network namespaces available, so a skip there means something CI
should have had is missing; with ``CI`` set, every skip is turned into a failure that
states the original reason.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from tests.installed import InstalledCtdiag, install


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_root: needs root and network namespaces; a failure in CI when it cannot run",
    )


@pytest.hookimpl
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_root") is not None and os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, conntrack)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A conftest of tests/ only: a diagnostic check that cannot apply skips by design.
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where everything it needs must exist: {reason}"
    return report


@pytest.fixture(scope="session")
def installed_ctdiag(tmp_path_factory: pytest.TempPathFactory) -> InstalledCtdiag:
    """ctdiag pip-installed from the repository into a new venv (tests/installed.py)."""
    return install(tmp_path_factory.mktemp("installed"))
