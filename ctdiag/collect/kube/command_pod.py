"""One node, one debug pod, for the length of one command (``python -m ctdiag conntrack``).

The pod (and the temporary namespace) is removed when the ``with`` block ends, also on
Ctrl-C or SIGTERM (``__main__`` turns SIGTERM into KeyboardInterrupt); its
``activeDeadlineSeconds`` ends it even if we are killed outright.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from ctdiag.collect.kube.access import AccessOptions, connect
from ctdiag.collect.kube.manifests import DEFAULT_IMAGE
from ctdiag.collect.kube.pod_runner import DebugPodRunner
from ctdiag.collect.kube.pods import DEFAULT_START_TIMEOUT_S
from ctdiag.collect.kube.session import DebugPodSession, PodOptions

#: A single command's pod need not outlive it by an hour.
COMMAND_DEADLINE_S = 900


def add_access_options(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``."""
    parser.add_argument("--kubeconfig", metavar="PATH",
                        help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context to use")


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
    return AccessOptions(kubeconfig=args.kubeconfig, context=args.context)


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
    try:
        with DebugPodSession(cluster, options, progress=progress) as pods:
            yield pods.runner(args.node)
    finally:
        cluster.close()
