"""Hand a run over and check it again offline: ``--save-snapshot DIR`` and ``--snapshot DIR``.

``--save-snapshot DIR`` writes every node's sample (and every node that could not be
collected) as it is obtained, in the run directory layout of ``ctdiag.collect.store.run_reader``.
``--snapshot DIR`` makes the nodes saved in DIR the run's nodes: nothing is collected, no
root is needed, and the checks judge the saved samples with this run's thresholds.

``--option DIR`` and ``--option=DIR`` both work: the plugin is loaded from its entry point,
so its options are known before pytest's early scan for test paths.
"""

from __future__ import annotations

import pytest

from ctdiag.collect.node_targets import saved_targets
from ctdiag.collect.store.run_writer import RunWriter, check_free
from ctdiag.errors import CtdiagError
from ctdiag.plugin.cluster import wants_cluster
from ctdiag.plugin.nodes import REGISTRY

WRITER = pytest.StashKey[RunWriter]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag-snapshots", "ctdiag: saving and re-checking runs")
    group.addoption(
        "--save-snapshot",
        metavar="DIR",
        help="save every node's collected sample under DIR (new or empty) for --snapshot "
        "and `python -m ctdiag diff`",
    )
    group.addoption(
        "--snapshot",
        metavar="DIR",
        help="check the nodes saved in DIR by --save-snapshot, offline (no collection, "
        "no root; the saved sampling window is used); not with --lab, --local or --netns",
    )


# After ctdiag.plugin.nodes has made the registry from --lab/--local/--netns.
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    registry = config.stash[REGISTRY]
    try:
        if opt.snapshot is not None:
            if opt.lab or opt.local or opt.netns or wants_cluster(config):
                raise pytest.UsageError(
                    "--snapshot DIR checks the nodes saved in DIR: "
                    "not with --lab, --local, --netns or cluster nodes"
                )
            if opt.save_snapshot is not None:
                raise pytest.UsageError("--snapshot DIR is saved already: not with --save-snapshot")
            registry.targets.update((t.node, t) for t in saved_targets(opt.snapshot))
        if opt.save_snapshot is not None:
            if config.getoption("numprocesses", None):
                raise pytest.UsageError("--save-snapshot needs a run without -n (pytest-xdist)")
            directory = check_free(opt.save_snapshot)
            writer = RunWriter(directory, window_s=registry.window_s, order=list(registry.targets))
            registry.recorders.append(writer)
            config.stash[WRITER] = writer
    except CtdiagError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    writer = terminalreporter.config.stash.get(WRITER, None)
    if writer is None:
        return
    if writer.nodes:
        saved = f"{len(writer.nodes)} node(s) saved in {writer.path}"
        terminalreporter.write_line(f"[ctdiag] {saved} (pytest --snapshot={writer.path})")
    else:
        terminalreporter.write_line(
            f"[ctdiag] no node was collected: nothing saved in {writer.path}"
        )
