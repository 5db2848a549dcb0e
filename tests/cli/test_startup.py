"""``ctdiag`` loads only what the chosen subcommand uses: ``--help`` and ``parse`` never
import the Kubernetes client, scapy or aiohttp (start-up time is in benchmarks/)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ctdiag.cli import SUBCOMMANDS
from ctdiag.cli.main import build_parser, chosen_subcommand
from tests.paths import CAPTURES

HEAVY = ("kubernetes", "scapy", "aiohttp", "matplotlib", "numpy")
#: Runs ctdiag's main in a fresh interpreter and prints the heavy packages it loaded.
PROBE = (
    "import json, sys\n"
    "from ctdiag.cli.main import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
)


def _loaded(*argv: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("argv", [("--help",), (), ("--version",), ("nosuch",)])
def test_top_level_help_imports_nothing_heavy(argv: tuple[str, ...]) -> None:
    assert _loaded(*argv) == []


def test_parse_imports_numpy_and_nothing_else_heavy() -> None:
    assert _loaded("parse", str(CAPTURES / "conntrack_L.stdout")) == ["numpy"]
    assert _loaded("parse", "--help") == ["numpy"]


def test_the_subcommand_is_the_first_word_that_is_not_an_option() -> None:
    assert chosen_subcommand(["--version"]) is None
    assert chosen_subcommand(["-h", "parse", "x"]) == "parse"
    assert chosen_subcommand(["parse", "diff"]) == "parse"
    assert chosen_subcommand(["frobnicate"]) is None


def test_the_help_table_is_what_each_subcommand_registers() -> None:
    full = build_parser()
    (commands,) = [a for a in full._actions if a.dest == "command"]
    shown = {c.dest: c.help for c in commands._choices_actions}  # type: ignore[attr-defined]
    assert shown == {name: text for name, (_, text) in SUBCOMMANDS.items()}
    for name in SUBCOMMANDS:
        assert commands.choices[name].prog == f"python -m ctdiag {name}"  # type: ignore[index]
