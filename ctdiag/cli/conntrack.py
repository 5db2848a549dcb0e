"""``ctdiag conntrack NODE``: list, count or show statistics of a node's conntrack table.

The node's own ``conntrack`` CLI answers when it has one (filters passed as argv words,
never through a shell); otherwise ``/proc`` is read and filtered here with the CLI's
semantics (:mod:`ctdiag.collect.query`). stdout holds the result and nothing else:
notices, the CLI's trailer and its errors go to stderr, prefixed with the node name.

:func:`run_query` does the work against any :class:`~ctdiag.collect.runners.CommandRunner`;
:func:`run` only validates the options and opens the node's runner (one debug pod,
:mod:`ctdiag.collect.kube.command_pod`, imported when needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from ctdiag.cli import help_of
from ctdiag.cli.conntrack_output import (
    NodeNotes,
    forward_stderr,
    print_count,
    print_failure,
    print_stats,
    read_count,
    select_rows,
)
from ctdiag.collect.plan import (
    COMMAND_TIMEOUT,
    LISTING_TIMEOUT,
    VERSION_PROBE,
    parse_conntrack_version,
)
from ctdiag.collect.query import (
    FAMILY_CHOICES,
    ConntrackQuery,
    QueryMode,
    conntrack_argv,
    parse_query,
    proc_argv,
)
from ctdiag.collect.runners import MISSING_COMMAND_STATUS, CommandRunner
from ctdiag.parse.entry_json import entry_to_json

EXIT_OK = 0
#: The node's command failed (nothing on stdout), or its output could not all be read.
EXIT_FAILED = 1
EXIT_USAGE = 2  # invalid options, or the node could not be reached: python -m ctdiag's rule

EXIT_HELP = (
    f"Exit status: {EXIT_OK} the full result is on stdout; {EXIT_FAILED} a command failed on "
    "the node (its argv and stderr are shown, stdout stays empty) or lines of its output could "
    "not be read (they are counted on stderr; stdout holds the rest); "
    f"{EXIT_USAGE} invalid options, or the node could not be reached or a command timed out."
)


def add_parser(commands: Any) -> None:
    """Add the ``conntrack`` subcommand (and the cluster options of the node runner)."""
    p: argparse.ArgumentParser = commands.add_parser(
        "conntrack",
        help=help_of("conntrack"),
        description=(
            "Show a node's conntrack entries (-L, default), their number (-C) or the "
            "per-CPU statistics (-S), both address families unless --family says otherwise. "
            "The node's conntrack CLI is used when it has one; otherwise /proc is read and "
            "filtered with the same semantics. Filters match the original direction, as "
            "conntrack's do; a filtered -C counts the entries a filtered -L shows. stdout "
            "holds only the result; notices go to stderr."
        ),
        epilog=EXIT_HELP,
    )
    p.add_argument("node", metavar="NODE", help="the node's name")
    mode = p.add_mutually_exclusive_group()
    for flag, long, what, help_text in (
        ("-L", "--list", QueryMode.LIST, "list the entries (default)"),
        ("-C", "--count", QueryMode.COUNT, "print the number of entries"),
        ("-S", "--stats", QueryMode.STATS, "print the per-CPU statistics (no filters)"),
    ):
        mode.add_argument(flag, long, dest="mode", action="store_const", const=what, help=help_text)
    p.set_defaults(mode=QueryMode.LIST)
    filters = p.add_argument_group("filters (as conntrack's, original direction)")
    filters.add_argument("--src", metavar="ADDR", help="source address")
    filters.add_argument("--dst", metavar="ADDR", help="destination address")
    filters.add_argument(
        "-p", "--proto", metavar="PROTO", help="tcp udp icmp icmpv6 sctp dccp udplite gre, or 0-255"
    )
    filters.add_argument("--sport", metavar="PORT", help="source port (needs -p with ports)")
    filters.add_argument("--dport", metavar="PORT", help="destination port (needs -p with ports)")
    filters.add_argument("--zone", metavar="ZONE", help="conntrack zone 0-65535")
    filters.add_argument(
        "--family", choices=FAMILY_CHOICES, help="address family (default both; an address sets it)"
    )
    p.add_argument("--json", action="store_true", help="print JSON (the schema of ctdiag parse)")
    p.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"limit of each command on the node (default {COMMAND_TIMEOUT:g}, "
        f"listings {LISTING_TIMEOUT:g})",
    )
    try:
        import ctdiag.collect.kube.command_pod as node_runner
    except ModuleNotFoundError as exc:  # not written yet: only `run` needs it
        if exc.name not in ("ctdiag.collect.kube", "ctdiag.collect.kube.command_pod"):
            raise
    else:
        node_runner.add_cluster_options(p)
    p.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def query_from_args(args: argparse.Namespace) -> ConntrackQuery:
    """The validated query of parsed options.

    Raises:
        QueryError: an invalid or contradictory option (one line).
    """
    return parse_query(
        args.mode,
        src=args.src,
        dst=args.dst,
        proto=args.proto,
        sport=args.sport,
        dport=args.dport,
        zone=args.zone,
        family=args.family,
    )


def run(args: argparse.Namespace) -> int:
    """Validate the query first (no pod for a bad one), then run it on the node."""
    query = query_from_args(args)
    import ctdiag.collect.kube.command_pod as node_runner

    with node_runner.open_node_runner(args) as runner:
        return run_query(
            runner, query, sys.stdout, sys.stderr, json_output=args.json, timeout=args.timeout
        )


def run_query(
    runner: CommandRunner,
    query: ConntrackQuery,
    out: IO[str],
    err: IO[str],
    *,
    json_output: bool,
    timeout: float | None = None,
) -> int:
    """Answer ``query`` on the runner's node: result on ``out``, everything else on ``err``.

    Args:
        runner: runs argv lists on the node.
        query: the validated query.
        out: receives the result only.
        err: receives notices, the CLI's stderr, failures, malformed-line counts.
        json_output: entries as ``entry_to_json`` lines; ``{"count": N}``; stats object.
        timeout: seconds per command (default: 20, listings 300).

    Returns:
        The exit status (see :data:`EXIT_HELP`).

    Raises:
        CollectionError: a command timed out or the node could not be reached.
    """
    node = runner.node
    probe = runner.run(VERSION_PROBE.name, VERSION_PROBE.argv, timeout=timeout or COMMAND_TIMEOUT)
    version = parse_conntrack_version(probe.text + probe.error_text)
    if version is None and probe.exit_status != MISSING_COMMAND_STATUS:
        print_failure(node, probe, err, "no conntrack version in its output")
    listing = query.mode is QueryMode.LIST or query.counts_by_listing
    if version is not None:
        commands = conntrack_argv(query, version)
    else:
        commands = proc_argv(query)
        how = ", filtered by ctdiag" if listing else ""
        err.write(f"no conntrack CLI on {node}: read {commands[0][1]}{how}\n")
    limit = timeout or (LISTING_TIMEOUT if listing else COMMAND_TIMEOUT)
    outputs = [runner.run(_name(query, k), argv, timeout=limit) for k, argv in enumerate(commands)]
    for output in outputs:
        if output.exit_status != 0:
            print_failure(node, output, err)
            return EXIT_FAILED
        forward_stderr(node, output.error_text, err)
    report = NodeNotes(node, err)
    if query.mode is QueryMode.STATS:
        print_stats(outputs[0], report, out, from_cli=version is not None, json_output=json_output)
    elif query.mode is QueryMode.COUNT and not query.has_filters:
        count = read_count(outputs[0], report)
        if count is not None:
            print_count(count, out, json_output=json_output)
    else:
        selections = [select_rows(output, query, report, version is not None) for output in outputs]
        if query.mode is QueryMode.COUNT:
            print_count(sum(len(s.rows) for s in selections), out, json_output=json_output)
        for selection in selections if query.mode is QueryMode.LIST else ():
            if json_output:
                entries = map(selection.table.entry, selection.rows.tolist())
                out.writelines(json.dumps(entry_to_json(entry)) + "\n" for entry in entries)
            else:
                out.writelines(f"{line}\n" for line in selection.lines())
    out.flush()
    return EXIT_FAILED if report.incomplete else EXIT_OK


def _name(query: ConntrackQuery, index: int) -> str:
    return f"conntrack_{query.mode.value}" + (f"_{index + 1}" if index else "")
