"""Inputs of the judgement tests, made by parsing real captured text.

Flow lines are ``conntrack -L -o extended`` lines captured by ``tests/captures/make_captures.py``;
tables are built from copies of them that differ only in the client port (and, for top
talkers, the client address), so every line is one a real kernel printed or could print.
Statistics are the rows of ``tests/data/stats`` with counter values substituted; sysctl dumps,
links, rules and the kernel log come from ``tests/assess/data`` (see its README).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ctdiag.analyze.rates import CounterRates, counter_rates
from ctdiag.analyze.summary import TableSummary, summarize
from ctdiag.model.table import ConntrackTable
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.stats import ConntrackStats, parse_stats
from tests.paths import TESTS

DATA = Path(__file__).resolve().parent / "data"
CAPTURES = TESTS / "captures"
STATS = TESTS / "data" / "stats"
#: The client of every captured flow (the ctdcap-client namespace).
CLIENT = "10.123.1.2"


def data(name: str) -> str:
    """A file of ``tests/assess/data``."""
    return (DATA / name).read_text()


def _captured(*needles: str) -> str:
    lines = (CAPTURES / "conntrack_L_extended.stdout").read_text().splitlines()
    return next(
        line for line in lines if line.startswith("ipv4 ") and all(n in line for n in needles)
    )


#: UDP to a port nobody answers: ``[UNREPLIED]``, no state.
UDP_UNREPLIED = _captured(" udp ", "[UNREPLIED]", "dport=7777")
#: TCP SYN to a blackholed address: SYN_SENT and ``[UNREPLIED]``.
SYN_SENT = _captured(" SYN_SENT ")
#: An established TCP flow to a Service VIP (DNAT to 10.123.2.2:8080).
ESTABLISHED = _captured(" ESTABLISHED ", "dst=10.123.100.1")
#: The same flow one step earlier, as ``conntrack -L -o extended`` prints a SYN_RECV entry:
#: the reply was seen (no ``[UNREPLIED]``) but the flow is not assured yet.
SYN_RECV = re.sub(r" \d+ ESTABLISHED ", " 59 SYN_RECV ", ESTABLISHED).replace(" [ASSURED]", "")


def _client_port(line: str) -> int:
    return int(re.search(r"sport=(\d+)", line).group(1))  # type: ignore[union-attr]


def flow(line: str, *, port: int, client: str = CLIENT) -> str:
    """``line`` from client ``client``, port ``port`` (both directions rewritten)."""
    old = _client_port(line)
    line = re.sub(rf"\b(sport|dport)={old}\b", rf"\g<1>={port}", line)
    return line.replace(f"={CLIENT} ", f"={client} ")


def copies(line: str, count: int, *, first_port: int = 10000, client: str = CLIENT) -> list[str]:
    """``count`` copies of ``line``, each from its own client port."""
    return [flow(line, port=first_port + k, client=client) for k in range(count)]


def listing(*groups: Iterable[str]) -> str:
    """The text of ``conntrack -L -o extended`` listing every line of ``groups``."""
    return "".join(f"{line}\n" for group in groups for line in group)


@cache
def parsed(text: str) -> tuple[ConntrackTable, TableSummary]:
    """The table of a listing and its summary (cached: tables are read-only)."""
    table = parse_listing(text)
    return table, summarize(table)


#: The /proc/net/stat/nf_conntrack header of kernels 2.6.30 to 5.9 (formats doc section 8).
PROC_HEADER_5_4 = (
    "entries  searched found new invalid ignore delete delete_list insert insert_failed drop "
    "early_drop icmp_error  expect_new expect_create expect_delete search_restart"
)


def stats_text(*rows: dict[str, int], proc: bool = False, header: str | None = None) -> str:
    """``conntrack -S`` (or, with ``proc``, /proc/net/stat/nf_conntrack) text, one row per CPU.

    The captured rows of this machine (kernel 6.18, 2 CPUs) with every counter zero except
    those given. Names use the producer's own vocabulary (``clashres`` in /proc); ``header``
    replaces the captured /proc header (an older kernel's).
    """
    if proc:
        header = header or (STATS / "proc-net-stat-nf_conntrack.txt").read_text().splitlines()[0]
        names = header.split()
        lines = [header]
        for row in rows:
            _check_names(row, names)
            values = [f"{row.get(name, 0):08x}" for name in names]
            # Two spaces after the first and the 13th value, as the kernel prints them.
            lines.append(f"{values[0]}  {' '.join(values[1:13])}  {' '.join(values[13:])}")
        return "\n".join(lines) + "\n"
    template = (STATS / "conntrack-S.txt").read_text().splitlines()[0]
    names = re.findall(r"(\w+)=", template.split("\t", 1)[1])
    lines = []
    for cpu, row in enumerate(rows):
        _check_names(row, names)
        line = template.replace("cpu=0 ", f"cpu={cpu} ", 1)
        for name in names:
            line = re.sub(rf"\b{name}=\d+", f"{name}={row.get(name, 0)}", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def _check_names(row: dict[str, int], names: list[str]) -> None:
    unknown = set(row) - set(names)
    if unknown:
        raise ValueError(f"counters {sorted(unknown)} are not in the captured rows {names}")


def stats(*rows: dict[str, int], proc: bool = False, header: str | None = None) -> ConntrackStats:
    """Parsed :func:`stats_text`."""
    return parse_stats(stats_text(*rows, proc=proc, header=header))


def window(
    before: list[dict[str, int]],
    after: list[dict[str, int]],
    seconds: float,
    *,
    proc: bool = False,
    header: str | None = None,
) -> tuple[ConntrackStats, CounterRates]:
    """The second reading and the rates between two readings ``seconds`` apart."""
    first = stats(*before, proc=proc, header=header)
    second = stats(*after, proc=proc, header=header)
    return second, counter_rates(first, second, seconds)


def with_sysctl(dump: str, name: str, value: str | None) -> str:
    """A ``sysctl`` dump with ``name`` set to ``value`` (``None``: the line removed)."""
    pattern = re.compile(rf"^{re.escape(name)} = .*\n", re.MULTILINE)
    if not pattern.search(dump):
        raise ValueError(f"{name} is not in the dump")
    return pattern.sub("" if value is None else f"{name} = {value}\n", dump)
