"""Installed beside other tests, the plugin costs nothing until one of its options is used:
no Kubernetes client, scapy, aiohttp, numpy or matplotlib is imported, and nothing of the
report machinery is registered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("kubernetes", "scapy", "aiohttp", "numpy", "matplotlib", "yaml")
TEST = f'''
import json, sys

def test_plain(pytestconfig):
    loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
    names = [n for n, _ in pytestconfig.pluginmanager.list_name_plugin()]
    plugins = sorted(n for n in names if n and "ctdiag" in n)
    print("CTDIAG", json.dumps({{"loaded": loaded, "plugins": plugins}}))
'''


def _run(tmp_path: Path, *args: str) -> dict[str, list[str]]:
    (tmp_path / "test_plain.py").write_text(TEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "-p", "no:hypothesispytest", *args, "test_plain.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("CTDIAG "))
    found: dict[str, list[str]] = json.loads(line.removeprefix("CTDIAG "))
    return found


def test_unused_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    found = _run(tmp_path)
    assert found["loaded"] == []
    assert "ctdiag" in found["plugins"] and "ctdiag-report" not in found["plugins"]


def test_report_options_alone_load_nothing_either(tmp_path: Path) -> None:
    found = _run(tmp_path, "--junitxml", str(tmp_path / "j.xml"), "--redact")
    assert found["loaded"] == []
