"""The tree's import rules (pyproject.toml, ``[tool.importlinter]``) hold, and break when a
module crosses them: a pure module importing an edge, a layer importing the one above it,
or a third-party package imported outside the one package allowed to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT

#: The lint-imports command of the running interpreter (the venv's).
LINT = [str(Path(sys.executable).with_name("lint-imports"))]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "250"}  # one line per contract
    return subprocess.run(
        [*LINT, "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _broken(output: str) -> set[str]:
    """The names of the contracts the run reports broken (``NAME BROKEN (2 ignored ...)``)."""
    return {line.partition(" BROKEN")[0].strip() for line in output.splitlines()
            if " BROKEN" in line and not line.startswith("Contracts:")}  # fmt: skip


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "ctdiag", root / "ctdiag",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contracts"),
    [
        ("model/entries.py", "import ctdiag.collect.runners", {"the pure core never reaches"}),
        ("parse/trailer.py", "import ctdiag.analyze.summary", {"pipeline layers"}),
        ("assess/wording.py", "from ctdiag.report import redact", {"pipeline layers"}),
        ("report/redact.py", "import ctdiag.plugin.report",
         {"pipeline layers", "the pure core never reaches"}),
        # Also a layer crossing: plugin -> probes -> collect.plan -> cli joins two siblings.
        ("collect/plan.py", "import ctdiag.cli.main",
         {"the edges (collect, probes, lab)", "pipeline layers"}),
        ("collect/runners.py", "import kubernetes", {"only ctdiag.collect.kube imports"}),
        ("lab/floods.py", "from scapy.layers.inet import IP", {"only ctdiag.probes imports"}),
        ("plugin/nodes.py", "import aiohttp", {"only ctdiag.lab imports aiohttp"}),
    ],
)  # fmt: skip
def test_a_crossing_import_breaks_its_contract(
    tree: Path, module: str, line: str, contracts: set[str]
) -> None:
    path = tree / "ctdiag" / module
    original = path.read_text()
    try:
        # Inside a function: lazy imports count as much as top-level ones.
        path.write_text(original + f"\n\ndef _crossing() -> None:\n    {line}  # noqa\n")
        done = _lint(tree)
    finally:
        path.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = _broken(done.stdout)
    assert {c for c in contracts if any(name.startswith(c) for name in broken)} == contracts
    assert len(broken) == len(contracts), done.stdout
