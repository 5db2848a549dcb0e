"""``pip install`` then ``pytest --pyargs ctdiag.checks`` from any directory: the plugin comes
from its entry point, the checks and their guide from the installed package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collect.scratch_netns import ScratchNamespaces
from tests.installed import InstalledCtdiag

pytestmark = pytest.mark.needs_root


@pytest.fixture
def node_netns() -> Iterator[str]:
    spaces = ScratchNamespaces()
    try:
        yield spaces.create("installed")
    finally:
        spaces.delete_all()


def test_installed_package_runs_the_checks_from_another_directory(
    installed_ctdiag: InstalledCtdiag, node_netns: str
) -> None:
    where = installed_ctdiag.run("-c", "import ctdiag.checks, ctdiag.parse.fast as f; "
                                       "print(ctdiag.checks.__file__, f.AVAILABLE)")  # fmt: skip
    assert "/venv/lib/" in where.stdout and where.stdout.split()[1] == "True", where.stderr
    done = installed_ctdiag.run("-m", "pytest", "--pyargs", "ctdiag.checks", "--netns",
                                node_netns, "--sample-seconds", "0", "-rA")  # fmt: skip
    # A fresh namespace has the kernel's tunables: two of them fail, nothing errors.
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"PASSED test_capacity.py::test_table_occupancy[{node_netns}]" in done.stdout
    assert " failed, " in done.stdout and " error" not in done.stdout
    assert f"rootdir: {installed_ctdiag.workdir}" in done.stdout
    guide = installed_ctdiag.run(
        "-c", "import ctdiag.checks, pathlib; "
        "print(pathlib.Path(ctdiag.checks.__file__).with_name('README.md').is_file())",
    )  # fmt: skip
    assert guide.stdout.strip() == "True"


def test_installed_command_and_options_need_no_clone(installed_ctdiag: InstalledCtdiag) -> None:
    helped = installed_ctdiag.run("-m", "pytest", "--help")
    assert "--node=NAME" in helped.stdout and "--snapshot=DIR" in helped.stdout
    command = installed_ctdiag.run("-m", "ctdiag", "--help")
    assert command.returncode == 0 and "conntrack" in command.stdout
