"""Which nodes a run checks, and each node's collected state, shared by all its checks.

Options: ``--local``, ``--netns NAME`` (repeatable), ``--lab`` (with ``--lab-scenario``),
``--sample-seconds``; cluster nodes come from :mod:`ctdiag.plugin.cluster`. Every check taking a
``node`` argument is parametrised over the selected nodes (the node name is the test id).
The first ``node_state`` starts collecting every node at once (at most
``--max-parallel`` at a time; debug pods first, all together); each node is collected once
per session, and an unreachable node is one ERROR, a line naming the node and the cause, its
other checks not run because of it. Under xdist, a node's checks run on one worker (one pod per
node), which collects its nodes as they come.

``--lab`` builds the lab, serves the lab API (a Kubernetes API whose exec runs in the lab
node's namespace) and checks the lab node through a debug pod, exactly as on a cluster.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import pytest

# Light on purpose: collection, the lab API (aiohttp) and numpy are imported by the fixtures
# of a run that checks nodes, never by a run that uses none of these options.
from ctdiag.collect.node_targets import NodeTarget, SampleRecorder, TargetKind, select_targets
from ctdiag.errors import CtdiagError
from ctdiag.lab.scenarios import SCENARIOS
from ctdiag.lab.session import lab_session, parse_scenario_spec, reused_lab_session
from ctdiag.lab.topology import default_lab
from ctdiag.plugin.cluster import XdistByNode, access_options, cluster_nodes, debug_pods

if TYPE_CHECKING:
    from ctdiag.analyze.node_state import NodeState
    from ctdiag.collect.scheduler import SampleScheduler
    from ctdiag.lab.apiserver.server import LabApiServer

DEFAULT_SAMPLE_SECONDS = 10.0


@dataclass
class NodeRegistry:
    """The selected targets and what was collected from each (or why it failed).

    ``recorders`` are told every sample (or failure) as it is obtained (--save-snapshot).
    """

    targets: dict[str, NodeTarget]
    window_s: float
    states: dict[str, NodeState] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    recorders: list[SampleRecorder] = field(default_factory=list)
    #: What could not be done (a node's collection, its probes) -> the test that says why.
    reported: dict[str, str] = field(default_factory=dict)


def fail_once(request: pytest.FixtureRequest, missing: str, message: str) -> NoReturn:
    """Fail the first test that needs what is ``missing`` with ``message`` (one ERROR line);
    skip every later one as not run because of it, so a node that cannot be collected shows
    once, not once per check. The skips share one reason and location (the failed test), so
    ``-rs`` lists them as one line with their count.

    Args:
        missing: what could not be had, as a reason: ``node worker-3 could not be collected``.
    """
    reported = request.config.stash[REGISTRY].reported
    first = reported.setdefault(missing, request.node.nodeid)
    if first != request.node.nodeid:
        # Line None: pytest's skip summary folds equal (location, None, reason) into one line.
        reason = f"not run: {missing} (its error: {first.rpartition('::')[2]})"
        request.node.stash[UNAVAILABLE] = (first, None, reason)
        pytest.skip(reason)
    request.node.stash[UNAVAILABLE] = message
    pytest.fail(message, pytrace=False)


#: How a test that could not run because of its node is reported: its one-line error, or
#: the (location, line, reason) of its "not run" skip.
UNAVAILABLE = pytest.StashKey["str | tuple[str, int | None, str]"]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    unavailable = item.stash.get(UNAVAILABLE, None)
    if report.when == "setup" and unavailable is not None:
        # Not "Failed: ..." with the fixture's frames; pytest folds (path, None, reason) skips
        # although its annotation says int.
        report.longrepr = unavailable  # type: ignore[assignment]
    return report


REGISTRY = pytest.StashKey[NodeRegistry]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag", "ctdiag: which nodes to check")
    group.addoption(
        "--local", action="store_true", help="check this machine (its current network namespace)"
    )
    group.addoption(
        "--netns",
        action="append",
        default=[],
        metavar="NAME",
        help="check the network namespace NAME (ip netns); repeatable; "
        "the test id is the namespace name",
    )
    group.addoption(
        "--lab",
        action="store_true",
        help="build the network-namespace lab for this run, check its node, tear it down (root)",
    )
    group.addoption("--lab-reuse", action="store_true",
                    help="with --lab: check the lab that is already up (python -m ctdiag lab "
                         "up) instead of building and removing one; --lab-scenario scenarios "
                         "are switched off again at the end")  # fmt: skip
    group.addoption("--lab-scenario", action="append", default=[], metavar="NAME[:K=V,...]",
                    help="with --lab: switch on a problem scenario before checking, with "
                         "optional knobs (table_pressure:fraction=1.1,assured=true); "
                         f"repeatable; one of {', '.join(sorted(SCENARIOS))}")  # fmt: skip
    group.addoption("--sample-seconds", type=float, default=DEFAULT_SAMPLE_SECONDS,
                    metavar="N",
                    help="seconds between the two counter samples used for rates "
                         f"(default {DEFAULT_SAMPLE_SECONDS:g}; 0 disables rates)")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    if opt.lab_scenario and not opt.lab:
        raise pytest.UsageError("--lab-scenario needs --lab")
    if opt.lab_reuse and not opt.lab:
        raise pytest.UsageError("--lab-reuse needs --lab")
    for spec in opt.lab_scenario:
        try:
            parse_scenario_spec(spec)
        except CtdiagError as exc:
            raise pytest.UsageError(f"--lab-scenario: {exc}") from None
    if opt.sample_seconds < 0:
        raise pytest.UsageError(f"--sample-seconds must be >= 0, got {opt.sample_seconds:g}")
    kube_nodes = cluster_nodes(config)  # checks the cluster options, also with --lab
    if opt.lab:
        kube_nodes = [default_lab().namespace]
    try:
        targets = select_targets(local=opt.local, namespaces=opt.netns, kube_nodes=kube_nodes)
    except CtdiagError as exc:
        raise pytest.UsageError(str(exc)) from None
    if config.pluginmanager.hasplugin("xdist"):
        # Under -n, a node's checks share one worker (so one debug pod per node).
        config.pluginmanager.register(XdistByNode(config, [t.node for t in targets]),
                                      "ctdiag-xdist-by-node")
    if targets:
        # SIGTERM (CI cancelling a job) unwinds like Ctrl-C, so session teardown still
        # removes the lab (and, on clusters, debug pods) instead of leaving them behind.
        signal.signal(signal.SIGTERM, _terminate)
    config.stash[REGISTRY] = NodeRegistry(
        {target.node: target for target in targets}, opt.sample_seconds
    )


def _terminate(signum: int, frame: object) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node" not in metafunc.fixturenames:
        return
    names = list(metafunc.config.stash[REGISTRY].targets)
    metafunc.parametrize("node", names, ids=names, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[REGISTRY].targets:
        return
    if any("node" in getattr(item, "fixturenames", ()) for item in items):
        raise pytest.UsageError(
            "no node selected: use --lab, --node NAME, --all-nodes, --local or --netns NAME "
            "(see pytest --help, ctdiag)"
        )


def _progress(config: pytest.Config, node: str, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    # Progress reaches the terminal even while pytest captures the test's output.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.ensure_newline()
        reporter.write_line(f"[ctdiag] {node}: {message}")


@pytest.fixture(scope="session")
def lab_environment(request: pytest.FixtureRequest) -> Iterator[LabApiServer | None]:
    """With ``--lab``: the lab and its API server for the session, torn down at its end."""
    config = request.config
    if not config.option.lab:
        yield None
        return
    from ctdiag.lab.apiserver.cluster import LabApiNode, lab_services_from_topology
    from ctdiag.lab.apiserver.server import serve_lab_api

    session = reused_lab_session if config.option.lab_reuse else lab_session
    with contextlib.ExitStack() as stack:
        try:
            lab = stack.enter_context(session(
                config.option.lab_scenario, report=lambda line: _progress(config, "lab", line)
            ))  # fmt: skip
            node = LabApiNode(name=lab.namespace, netns=lab.namespace, ip=lab.node_ip)
            api = stack.enter_context(
                serve_lab_api([node], services=lab_services_from_topology(lab))
            )
        except CtdiagError as exc:
            # The lab's node cannot be collected: one ERROR for it, its other checks not run.
            registry: NodeRegistry = config.stash[REGISTRY]
            registry.failures.update((name, f"{name}: the lab: {exc}") for name in registry.targets)
            yield None
            return
        _progress(config, "lab", f"lab API at {api.url} (kubeconfig {api.kubeconfig})")
        yield api


@pytest.fixture(scope="session")
def node_scheduler(
    request: pytest.FixtureRequest, lab_environment: LabApiServer | None
) -> Iterator[SampleScheduler]:
    """Collects the selected nodes; owns the run's debug pods when nodes are on a cluster."""
    from ctdiag.collect.scheduler import (
        ProgressQueue,
        SampleScheduler,
        default_runner,
        no_preparation,
    )

    config = request.config
    registry: NodeRegistry = config.stash[REGISTRY]
    messages = ProgressQueue()
    kube = [t.node for t in registry.targets.values() if t.kind is TargetKind.KUBE]
    with contextlib.ExitStack() as stack:
        stack.callback(messages.drain, lambda node, line: _progress(config, node, line))
        runner_for, prepare = default_runner, no_preparation
        if config.option.lab and lab_environment is None:
            kube = []  # the lab could not be built: its node's failure is recorded already
        if kube:
            lab_kubeconfig = str(lab_environment.kubeconfig) if lab_environment else None
            access = access_options(config, lab_kubeconfig)
            try:
                pods = stack.enter_context(debug_pods(config, access, messages))
            except CtdiagError as exc:
                registry.failures.update((node, str(exc)) for node in kube)
            else:
                runner_for = lambda target: (  # noqa: E731
                    pods.runner(target.node) if target.kind is TargetKind.KUBE
                    else default_runner(target)
                )
                prepare = lambda targets: pods.start(  # noqa: E731
                    [t.node for t in targets if t.kind is TargetKind.KUBE]
                )
        scheduler = SampleScheduler(
            window_s=registry.window_s, max_parallel=config.option.max_parallel,
            runner_for=runner_for, prepare=prepare, recorders=registry.recorders,
            messages=messages,
        )  # fmt: skip
        stack.callback(scheduler.close)
        yield scheduler


@pytest.fixture
def node_state(node: str, node_scheduler: SampleScheduler,
                    request: pytest.FixtureRequest) -> NodeState:  # fmt: skip
    """The node's collected state: collected on first use, shared by every check of it."""
    from ctdiag.analyze.node_state import NodeState

    config = request.config
    registry: NodeRegistry = config.stash[REGISTRY]
    if node in registry.failures:
        fail_once(request, f"node {node} could not be collected", registry.failures[node])
    if node not in registry.states:
        progress = lambda name, message: _progress(config, name, message)  # noqa: E731
        # Alone, start every node now (pods together, collection in parallel); as an xdist
        # worker, only this node: the others may be sent to other workers.
        wanted = [registry.targets[node]] if hasattr(config, "workerinput") else list(
            registry.targets.values()
        )
        try:
            node_scheduler.request(wanted, progress)
            sample = node_scheduler.result(node, progress)
        except CtdiagError as exc:
            registry.failures[node] = str(exc)
            fail_once(request, f"node {node} could not be collected", str(exc))
        registry.states[node] = NodeState(sample)
    return registry.states[node]
