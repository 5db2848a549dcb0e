"""The clone's front door stays a door: ``checks/`` names every shipped check and defines
none, ``fixtures/README.md`` names every fixture of the plugin, and the root conftest wires
nothing (the plugin comes from its entry point)."""

from __future__ import annotations

import ast
import importlib
from importlib.metadata import entry_points

import pytest

import ctdiag.plugin
from tests.paths import ROOT

SHIPPED = sorted((ROOT / "ctdiag" / "checks").glob("test_*.py"))


def _checks_of(path: object) -> set[str]:
    tree = ast.parse(open(str(path)).read())  # noqa: SIM115
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name.startswith("test_")}  # fmt: skip


@pytest.mark.parametrize("shipped", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_door_module_imports_exactly_the_shipped_checks(shipped: object) -> None:
    door = ROOT / "checks" / shipped.name  # type: ignore[attr-defined]
    tree = ast.parse(door.read_text())
    assert not any(isinstance(n, ast.FunctionDef) for n in tree.body), "a door defines no check"
    module = importlib.import_module(f"checks.{door.stem}")
    names = {name for name in vars(module) if name.startswith("test_")}
    assert names == _checks_of(shipped)
    shipped_module = importlib.import_module(f"ctdiag.checks.{door.stem}")
    assert all(getattr(module, n) is getattr(shipped_module, n) for n in names)


def test_no_door_without_a_shipped_module() -> None:
    doors = {p.name for p in (ROOT / "checks").glob("test_*.py")}
    assert doors == {p.name for p in SHIPPED}


def test_the_fixtures_map_names_every_fixture_of_the_plugin() -> None:
    text = (ROOT / "fixtures" / "README.md").read_text()
    fixtures = set()
    for name in ctdiag.plugin.pytest_plugins:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if hasattr(value, "_fixture_function_marker") or type(value).__name__ == (
                "FixtureFunctionDefinition"
            ):
                fixtures.add(attr)
    assert fixtures >= {"node_state", "judge", "thresholds"}
    missing = sorted(f for f in fixtures if f"`{f}`" not in text)
    assert missing == []


def test_the_plugin_is_an_entry_point_and_the_root_conftest_wires_nothing() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.value == "ctdiag.plugin"]
    assert plugin.name == "ctdiag"
    tree = ast.parse((ROOT / "conftest.py").read_text())
    assert [type(n) for n in tree.body] == [ast.Expr], "only a docstring"
