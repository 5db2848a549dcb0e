"""Kubernetes and OpenShift nodes: cluster options, node selection, the run's debug pods.

Options: ``--node NAME`` (repeatable), ``--all-nodes``, ``--node-selector``, with
``--kubeconfig``/``--context`` (else ``KUBECONFIG``, ``~/.kube/config``, in-cluster),
``--namespace``, ``--image``, ``--pod-timeout``, ``--api-timeout``; ``--max-parallel`` bounds
collection for every kind of node. ``--lab`` reaches the lab's node the same way, through the
lab API.

The end of the run's debug pods is the session's business, not a check's: from the first
Ctrl-C or SIGTERM on, later ones are held until the pods are removed; what could not be
removed (and a signal held meanwhile) is one line in the terminal summary, never an ERROR
of whichever check ran last. Under xdist, workers hand their lines to the controller.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

# Light on purpose (no Kubernetes client): what the options show. The client is imported
# only by a run that reaches a cluster.
from ctdiag.collect.kube.manifests import DEFAULT_DEADLINE_S, DEFAULT_IMAGE, new_run_id
from ctdiag.collect.kube.policy import (
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_START_TIMEOUT_S,
    api_timeout_help,
)
from ctdiag.collect.plan import DEFAULT_MAX_PARALLEL
from ctdiag.errors import ClusterError, CtdiagError

if TYPE_CHECKING:
    from ctdiag.collect.kube.access import AccessOptions
    from ctdiag.collect.kube.session import DebugPodSession
    from ctdiag.collect.scheduler import ProgressQueue

RUN_ID = pytest.StashKey[str]()
#: Plain data the controller hands to every xdist worker (``config.workerinput``), so all
#: workers decide alike (the Services listed once, not once per worker).
WORKER_DATA = pytest.StashKey[dict[str, str]]()
#: The key xdist workers find the controller's run id under (one label for the whole run).
WORKER_RUN_ID = "ctdiag_run_id"
#: Lines about the end of the run's debug pods, for the terminal summary (see the docstring).
TEARDOWN_NOTES = pytest.StashKey[list[str]]()
#: What the run could not remove (``pod ns/name``...), why, and the run id: one line in all.
LEFTOVERS = pytest.StashKey[tuple[list[str], str, str]]()
#: The key an xdist worker hands its leftovers to the controller under (plain lists).
WORKER_LEFTOVERS = "ctdiag_leftovers"
#: A signal came while the debug pods were being removed: the run ends as interrupted.
HELD_AT_END = pytest.StashKey[list[str]]()
#: The terminal's stderr, kept before pytest captures it: a held signal is announced there
#: at once (from a signal handler, so a raw write), not in a test's captured output.
NOTICE_FD = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ctdiag-kube", "ctdiag: Kubernetes and OpenShift nodes")
    group.addoption("--node", action="append", default=[], metavar="NAME", dest="kube_nodes",
                    help="check the cluster node NAME through a debug pod; repeatable")
    group.addoption("--all-nodes", action="store_true",
                    help="check every node of the cluster")
    group.addoption("--node-selector", metavar="SELECTOR",
                    help="check the nodes matching this label selector "
                         "(node-role.kubernetes.io/worker=)")
    group.addoption("--kubeconfig", metavar="PATH",
                    help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    group.addoption("--context", metavar="NAME", help="kubeconfig context to use")
    group.addoption("--namespace", metavar="NS", dest="kube_namespace",
                    help="create debug pods in this existing namespace (default: a temporary "
                         "privileged namespace, deleted at the end)")
    group.addoption("--image", default=DEFAULT_IMAGE, metavar="IMAGE",
                    help=f"debug pod image (default {DEFAULT_IMAGE}; nicolaka/netshoot works "
                         "too); the host's conntrack is used when the image has none")
    group.addoption("--pod-timeout", type=float, default=DEFAULT_START_TIMEOUT_S, metavar="S",
                    help=f"seconds a debug pod may take to start (default "
                         f"{DEFAULT_START_TIMEOUT_S:g})")
    group.addoption("--pod-deadline", type=int, default=DEFAULT_DEADLINE_S, metavar="S",
                    help="activeDeadlineSeconds of debug pods: they stop by themselves after "
                         f"this long even if the run is killed (default {DEFAULT_DEADLINE_S})")
    group.addoption("--api-timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT_S,
                    metavar="S", help=api_timeout_help())
    group.addoption("--max-parallel", type=int, default=DEFAULT_MAX_PARALLEL, metavar="N",
                    help=f"nodes collected at once (default {DEFAULT_MAX_PARALLEL})")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    if wants_cluster(config) or getattr(config.option, "lab", False):
        # Capture is off while plugins are configured: this is the terminal's stderr.
        config.stash[NOTICE_FD] = os.dup(2)


def wants_cluster(config: pytest.Config) -> bool:
    opt = config.option
    return bool(opt.kube_nodes or opt.all_nodes or opt.node_selector)


def access_options(config: pytest.Config, kubeconfig: str | None = None) -> AccessOptions:
    """Credentials from the options, or from ``kubeconfig`` (the lab's) when given."""
    from ctdiag.collect.kube.access import AccessOptions

    opt = config.option
    if kubeconfig is not None:
        return AccessOptions(kubeconfig, None, opt.api_timeout)
    return AccessOptions(opt.kubeconfig, opt.context, opt.api_timeout)


def cluster_nodes(config: pytest.Config) -> list[str]:
    """The nodes ``--node``/``--all-nodes``/``--node-selector`` name, in that order.

    Raises:
        pytest.UsageError: bad option values, or the nodes cannot be listed.
    """
    opt = config.option
    if opt.max_parallel < 1:
        raise pytest.UsageError(f"--max-parallel must be at least 1, got {opt.max_parallel}")
    if opt.pod_timeout <= 0 or opt.pod_deadline <= 0 or opt.api_timeout <= 0:
        raise pytest.UsageError("--pod-timeout, --pod-deadline and --api-timeout must be positive")
    if not wants_cluster(config):
        return []
    from ctdiag.collect.kube.access import connect
    from ctdiag.collect.kube.nodes import check_node_name, select_nodes

    for name in opt.kube_nodes:
        try:
            check_node_name(name)
        except ClusterError as exc:
            raise pytest.UsageError(f"--node: {exc}") from None
    if opt.lab:
        raise pytest.UsageError("--lab brings its own cluster: drop --node/--all-nodes")
    if not (opt.all_nodes or opt.node_selector):
        return list(dict.fromkeys(opt.kube_nodes))
    try:
        cluster = connect(access_options(config))
        try:
            return select_nodes(cluster, names=opt.kube_nodes, all_nodes=opt.all_nodes,
                                selector=opt.node_selector)  # fmt: skip
        finally:
            cluster.close()
    except CtdiagError as exc:
        raise pytest.UsageError(f"cannot choose nodes: {exc}") from None


def run_id(config: pytest.Config) -> str:
    """This run's id: the controller's under xdist, so every worker labels pods alike."""
    if RUN_ID not in config.stash:
        workerinput = getattr(config, "workerinput", {})
        config.stash[RUN_ID] = workerinput.get(WORKER_RUN_ID) or new_run_id()
    return config.stash[RUN_ID]


@contextlib.contextmanager
def debug_pods(
    config: pytest.Config, access: AccessOptions, messages: ProgressQueue
) -> Iterator[DebugPodSession]:
    """The run's debug pod session; every pod and the temporary namespace go at the end.

    From the first Ctrl-C or SIGTERM in the block on, later ones are held until the pods
    are removed (the first still interrupts the run). What could not be removed goes to
    the terminal summary (:func:`add_leftovers`), never raised at a check.
    """
    from ctdiag.collect.kube.access import connect
    from ctdiag.collect.kube.interrupts import first_interrupt_then_held
    from ctdiag.collect.kube.session import DebugPodSession, PodOptions
    from ctdiag.collect.kube.teardown import CLOSE_BUDGET_S, CleanupIncomplete

    opt = config.option
    options = PodOptions(namespace=opt.kube_namespace, image=opt.image,
                         start_timeout_s=opt.pod_timeout, deadline_s=opt.pod_deadline)  # fmt: skip
    cluster = connect(access)
    worker = str(getattr(config, "workerinput", {}).get("workerid", ""))
    fd = config.stash.get(NOTICE_FD, 2)
    pods = DebugPodSession(cluster, options, run_id=run_id(config), worker=worker,
                           progress=lambda n, m: messages.report(n or "cluster", m),
                           notice_fd=fd)  # fmt: skip
    note = (f"the run is ending: removing its debug pods first (at most {CLOSE_BUDGET_S:g} s; "
            f"run id {pods.run_id})")  # fmt: skip
    try:
        with first_interrupt_then_held(note, fd=fd) as later:
            try:
                yield pods
            finally:
                try:
                    pods.close()
                except CleanupIncomplete as exc:
                    add_leftovers(config, exc.left, exc.why, exc.run_id)
    finally:
        cluster.close()
    held: list[str] = [*pods.signals_while_closing, *later.received]
    if held:
        config.stash[HELD_AT_END] = held


def add_leftovers(config: pytest.Config, left: list[str], why: str, run: str) -> None:
    """Keep what could not be removed for the summary's one line: everything left, the
    first reason. On an xdist worker it also goes to the controller, which merges every
    worker's (they share the run id) into its one line."""
    known, first_why, _ = config.stash.get(LEFTOVERS, ([], why, run))
    config.stash[LEFTOVERS] = ([*known, *left], first_why, run)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # xdist sends it once the session's teardown is over
        workeroutput[WORKER_LEFTOVERS] = [[*known, *left], first_why, run]


def teardown_note(config: pytest.Config, line: str) -> None:
    """Keep ``line`` for the terminal summary (on this process: the controller or alone)."""
    config.stash.setdefault(TEARDOWN_NOTES, []).append(line)


def _summary_lines(config: pytest.Config) -> list[str]:
    lines = list(config.stash.get(TEARDOWN_NOTES, None) or ())
    if LEFTOVERS in config.stash:
        from ctdiag.collect.kube.teardown import leftovers_line

        lines.insert(0, leftovers_line(*config.stash[LEFTOVERS]))
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    del excinfo
    interrupts = sys.modules.get("ctdiag.collect.kube.interrupts")
    if interrupts is not None:  # loaded: debug pods may be held; the session unwinds now
        interrupts.interrupt_noticed()


@pytest.hookimpl(wrapper=True, trylast=True)  # inside the terminal's and xdist's wrappers
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    result = yield  # the session's fixtures, debug pods included, are torn down in here
    held = session.config.stash.get(HELD_AT_END, [])
    if held and session.exitstatus != pytest.ExitCode.INTERRUPTED:
        teardown_note(session.config, f"{held[0]} came while the debug pods were removed: "
                                      "the run ends as interrupted")  # fmt: skip
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if hasattr(config, "workerinput"):
        return  # the controller shows a worker's lines
    for line in _summary_lines(config):
        terminalreporter.write_line(f"ctdiag: {line}", red=True, bold=True)
    config.stash[TEARDOWN_NOTES] = []
    if LEFTOVERS in config.stash:  # shown: not again on unconfigure
        del config.stash[LEFTOVERS]


def pytest_unconfigure(config: pytest.Config) -> None:
    if NOTICE_FD in config.stash:
        os.close(config.stash[NOTICE_FD])
        del config.stash[NOTICE_FD]
    # No terminal summary (--no-summary, -p no:terminal): the lines still reach the user.
    if hasattr(config, "workerinput"):
        return
    for line in _summary_lines(config):
        print(f"ctdiag: {line}", file=sys.stderr)


class XdistByNode:
    """Under pytest-xdist (registered only then): every check of a node runs on one worker,
    so each node gets one debug pod and is collected once; workers share the run id.

    xdist's own ``loadgroup`` cannot do it here: it renames items through an attribute
    pytest 9 no longer reads, so its groups are silently ignored.
    """

    def __init__(self, config: pytest.Config, nodes: list[str]) -> None:
        self._config = config
        # Longest first: "worker-1-x" must not be taken for node "worker-1" when both exist.
        self._nodes = sorted(nodes, key=len, reverse=True)

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker's leftovers join the controller's (one line, in its summary)."""
        del error
        packed = getattr(node, "workeroutput", {}).get(WORKER_LEFTOVERS)
        if packed:
            left, why, run = packed
            add_leftovers(self._config, [str(item) for item in left], str(why), str(run))

    def pytest_configure_node(self, node: object) -> None:
        node.workerinput[WORKER_RUN_ID] = run_id(self._config)  # type: ignore[attr-defined]
        node.workerinput.update(self._config.stash.get(WORKER_DATA, {}))  # type: ignore[attr-defined]

    def node_of(self, nodeid: str) -> str | None:
        """The node a test id is parametrised with (``test_x[NODE]``, ``test_x[NODE-y]``)."""
        _, bracket, params = nodeid.partition("[")
        if not bracket:
            return None
        return next((n for n in self._nodes if params.startswith((f"{n}]", f"{n}-"))), None)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: object) -> object:
        from xdist.scheduler import LoadScopeScheduling

        node_of = self.node_of

        class ByNodeScheduling(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                node = node_of(nodeid)
                return f"node:{node}" if node else str(super()._split_scope(nodeid))

        return ByNodeScheduling(config, log)
