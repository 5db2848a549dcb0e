"""``ctdiag cleanup``: remove the debug pods and namespaces a killed run left behind."""

from __future__ import annotations

import argparse
from typing import Any

from ctdiag.cli import help_of
from ctdiag.collect.kube.access import connect
from ctdiag.collect.kube.command_pod import access_of, add_access_options
from ctdiag.collect.kube.manifests import managed_selector
from ctdiag.collect.kube.pods import sweep
from ctdiag.errors import ClusterError


def add_parser(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "cleanup",
        help=help_of("cleanup"),
        description=(
            "Delete every pod and namespace ctdiag created (label "
            f"{managed_selector()}), or only one run's (--run-id). Runs remove their own "
            "objects; this is for runs that were killed (their pods also stop by themselves "
            "at their activeDeadlineSeconds, but the objects stay)."
        ),
    )
    add_access_options(p)
    p.add_argument("--run-id", help="only this run's objects (the id its \"could not remove\" "
                                    "line names)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Delete, print one line per object deleted.

    Raises:
        ClusterError: something could not be deleted (one line naming it and why; the
            rest was deleted).
    """
    cluster = connect(access_of(args))
    try:
        result = sweep(cluster, run_id=args.run_id)
    finally:
        cluster.close()
    for pod in result.pods:
        print(f"deleted pod {pod}")
    for namespace in result.namespaces:
        print(f"deleted namespace {namespace}")
    if result.left:
        left = list(result.left)
        raise ClusterError(f"could not delete {', '.join(left)} ({result.left[left[0]]})")
    if not result.pods and not result.namespaces:
        print(f"nothing to delete on {cluster.where} ({managed_selector(args.run_id)})")
    return 0
