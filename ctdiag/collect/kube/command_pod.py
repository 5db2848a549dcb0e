"""One node, one debug pod, for the length of one command (``python -m ctdiag conntrack``).

The pod (and the temporary namespace) is removed when the ``with`` block ends, also on
Ctrl-C or SIGTERM: the first one interrupts the command, later ones wait until the pod is
gone (:func:`~ctdiag.collect.kube.interrupts.first_interrupt_then_held`). Its
``activeDeadlineSeconds`` ends it even if we are killed outright.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from ctdiag.collect.kube.access import AccessOptions, connect
from ctdiag.collect.kube.interrupts import first_interrupt_then_held
from ctdiag.collect.kube.manifests import DEFAULT_IMAGE
from ctdiag.collect.kube.pod_runner import DebugPodRunner
from ctdiag.collect.kube.policy import (
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_START_TIMEOUT_S,
    api_timeout_help,
)
from ctdiag.collect.kube.session import DebugPodSession, PodOptions
from ctdiag.collect.kube.teardown import CLOSE_BUDGET_S

#: A single command's pod need not outlive it by an hour.
COMMAND_DEADLINE_S = 900


def add_access_options(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig``, ``--context`` and ``--api-timeout``."""
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context to use")
    parser.add_argument("--api-timeout", type=_positive, default=DEFAULT_REQUEST_TIMEOUT_S,
                        metavar="S", help=api_timeout_help())


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """The options reaching a node through a debug pod."""
    add_access_options(parser)
    parser.add_argument("--namespace", metavar="NS",
                        help="existing namespace for the debug pod (default: a temporary one)")
    parser.add_argument("--image", default=DEFAULT_IMAGE,
                        help=f"debug pod image (default {DEFAULT_IMAGE})")
    parser.add_argument("--pod-timeout", type=float, default=DEFAULT_START_TIMEOUT_S,
                        metavar="S", help="seconds the debug pod may take to start "
                                          f"(default {DEFAULT_START_TIMEOUT_S:g})")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say on stderr what happens to the debug pod")


def access_of(args: argparse.Namespace) -> AccessOptions:
    return AccessOptions(kubeconfig=args.kubeconfig, context=args.context,
                         request_timeout_s=args.api_timeout)  # fmt: skip


@contextlib.contextmanager
def open_node_runner(args: argparse.Namespace) -> Iterator[DebugPodRunner]:
    """A runner on ``args.node`` through exactly one debug pod, removed on exit.

    Raises:
        ClusterError: credentials, the node (missing, NotReady), or the pod failed.
    """
    def progress(node: str, message: str) -> None:
        if args.verbose:
            print(f"ctdiag: {node or 'cluster'}: {message}", file=sys.stderr)

    options = PodOptions(namespace=args.namespace, image=args.image,
                         start_timeout_s=args.pod_timeout, deadline_s=COMMAND_DEADLINE_S)
    cluster = connect(access_of(args))
    pods = DebugPodSession(cluster, options, progress=progress)
    note = f"removing the debug pod first (at most {CLOSE_BUDGET_S:g} s; run id {pods.run_id})"
    try:
        with first_interrupt_then_held(note), pods:
            yield pods.runner(args.node)
    finally:
        cluster.close()
