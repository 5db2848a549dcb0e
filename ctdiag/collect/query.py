"""One conntrack query (list, count or statistics, with filters), validated; pure, no I/O.

``ctdiag conntrack NODE`` turns its options into a :class:`ConntrackQuery` with
:func:`parse_query`, which refuses anything that is not an address, a protocol, a port or a
zone (so no filter text ever reaches a node as anything but one argv word). The query then
becomes argv lists for the conntrack CLI (:func:`conntrack_argv`), or, on nodes without it,
``cat`` commands for ``/proc`` (:func:`proc_argv`) whose entries are filtered here with
conntrack's own semantics (:func:`entry_matches`).

Facts from conntrack-tools 1.4.7 on kernel 6.18 (checked with the real CLI):

* ``-s``/``-d``/``--sport``/``--dport`` match the original direction; ``--sport``/``--dport``
  are options of the protocol extension, so they need ``-p`` first ("unknown option").
* ``-w Z`` matches the non-directional zone (absent = 0): a flow with only ``zone-orig=7``
  is listed under ``-w 0``, not ``-w 7``.
* ``-C`` takes no filter at all, not even ``-f`` ("Illegal option `--protonum' with this
  command", exit 2): a filtered count is made by listing and counting here.
* ``-S`` takes no filter either.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ctdiag.collect.plan import listing_commands
from ctdiag.errors import QueryError
from ctdiag.model.entries import (
    PORT_PROTOCOLS,
    PROTOCOL_NAMES,
    PROTOCOL_NUMBERS,
    ConntrackEntry,
    Family,
)
from ctdiag.model.table import ConntrackTable, Present
from ctdiag.parse.values import normalize_address

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: ``--family`` values; ``both`` is the default and stands for "not restricted".
FAMILY_CHOICES = ("ipv4", "ipv6", "both")
PROC_ENTRIES = "/proc/net/nf_conntrack"
PROC_COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
PROC_STATS = "/proc/net/stat/nf_conntrack"
_LISTING = ("conntrack", "-L", "-o", "extended")
_DIGITS = re.compile(r"[0-9]{1,6}")  # ASCII only: int() would also take "1_0", " 1", "١"
_PORT_PROTO_NAMES = ", ".join(PROTOCOL_NAMES[n] for n in sorted(PORT_PROTOCOLS))


class QueryMode(enum.Enum):
    """What the query asks for: conntrack's ``-L``, ``-C`` or ``-S``."""

    LIST = "list"
    COUNT = "count"
    STATS = "stats"


@dataclass(frozen=True, slots=True)
class ConntrackQuery:
    """A validated query; build it with :func:`parse_query`.

    Attributes:
        mode: list, count or statistics.
        src: original-direction source address.
        dst: original-direction destination address.
        proto: IP protocol number.
        sport: original-direction source port (only with a port-carrying ``proto``).
        dport: original-direction destination port (likewise).
        zone: conntrack zone (the non-directional one, as ``conntrack -w``).
        family: the only family wanted, or ``None`` for both. An address fixes it.
    """

    mode: QueryMode = QueryMode.LIST
    src: IPAddress | None = None
    dst: IPAddress | None = None
    proto: int | None = None
    sport: int | None = None
    dport: int | None = None
    zone: int | None = None
    family: Family | None = None

    @property
    def has_filters(self) -> bool:
        """Whether anything restricts the entries (a family included)."""
        values = (self.src, self.dst, self.proto, self.sport, self.dport, self.zone, self.family)
        return any(value is not None for value in values)

    @property
    def counts_by_listing(self) -> bool:
        """A filtered count: ``conntrack -C`` cannot filter, so entries are listed and counted."""
        return self.mode is QueryMode.COUNT and self.has_filters

    @property
    def proto_name(self) -> str | None:
        """The protocol as conntrack names it (``tcp``), or its number for others."""
        return None if self.proto is None else PROTOCOL_NAMES.get(self.proto, str(self.proto))


def parse_query(
    mode: QueryMode = QueryMode.LIST,
    *,
    src: str | None = None,
    dst: str | None = None,
    proto: str | int | None = None,
    sport: str | int | None = None,
    dport: str | int | None = None,
    zone: str | int | None = None,
    family: str | None = None,
) -> ConntrackQuery:
    """Validate option values (as typed by a user) into a query.

    Args:
        mode: list, count or statistics.
        src: an IPv4 or IPv6 address (no prefix length, no scope id).
        dst: likewise.
        proto: ``tcp udp icmp icmpv6 sctp dccp udplite gre`` or a number 0-255.
        sport: 1-65535; needs a ``proto`` with ports (tcp, udp, dccp, sctp, udplite).
        dport: likewise.
        zone: 0-65535.
        family: ``ipv4``, ``ipv6`` or ``both`` (``None``: both). With ``both`` an address
            decides the family; an address of the other family is an error.

    Raises:
        QueryError: a value that is not valid, or options that contradict each other;
            the message is one line naming the option.
    """
    if mode is QueryMode.STATS:
        given = [
            f"--{name}"
            for name, value in (
                ("src", src), ("dst", dst), ("proto", proto), ("sport", sport),
                ("dport", dport), ("zone", zone),
            )
            if value is not None
        ]  # fmt: skip
        if family not in (None, "both"):
            given.append("--family")
        if given:
            raise QueryError(f"-S takes no filters (got {', '.join(given)})")
    src_addr = _address("--src", src)
    dst_addr = _address("--dst", dst)
    protonum = _protocol(proto)
    sport_number, dport_number = (
        _port(n, v, protonum) for n, v in (("--sport", sport), ("--dport", dport))
    )
    return ConntrackQuery(
        mode=mode,
        src=src_addr,
        dst=dst_addr,
        proto=protonum,
        sport=sport_number,
        dport=dport_number,
        zone=_number("--zone", zone, 0, 65535),
        family=_family(family, src_addr, dst_addr),
    )


def _address(option: str, value: str | None) -> IPAddress | None:
    if value is None:
        return None
    try:
        if "%" in value:  # ipaddress takes IPv6 scope ids; conntrack has no use for them
            raise ValueError(value)
        return ipaddress.ip_address(value)
    except ValueError:
        raise QueryError(f"{option}: not an IPv4 or IPv6 address: {value!r}") from None


def _protocol(value: str | int | None) -> int | None:
    if value is None:
        return None
    text = str(value)
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    if _DIGITS.fullmatch(text) and int(text) <= 255:
        return int(text)
    names = " ".join(sorted(PROTOCOL_NUMBERS, key=PROTOCOL_NUMBERS.__getitem__))
    raise QueryError(f"-p/--proto: unknown protocol {text!r} (use {names} or a number 0-255)")


def _port(option: str, value: str | int | None, protonum: int | None) -> int | None:
    port = _number(option, value, 1, 65535)
    if port is None or protonum in PORT_PROTOCOLS:
        return port
    if protonum is None:  # conntrack too: the port options belong to the -p extension
        raise QueryError(f"{option} needs -p/--proto, one of {_PORT_PROTO_NAMES}")
    name = PROTOCOL_NAMES.get(protonum, str(protonum))
    raise QueryError(f"{option}: protocol {name} has no ports (use {_PORT_PROTO_NAMES})")


def _number(option: str, value: str | int | None, low: int, high: int) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise QueryError(f"{option}: not a number from {low} to {high}: {text!r}")
    return int(text)


def _family(value: str | None, *addresses: IPAddress | None) -> Family | None:
    if value not in (None, *FAMILY_CHOICES):
        raise QueryError(f"--family: {value!r} is not one of {', '.join(FAMILY_CHOICES)}")
    wanted = None if value in (None, "both") else Family(value)
    found = {_family_of(a) for a in addresses if a is not None}
    if len(found) > 1:
        raise QueryError("--src and --dst are of different address families")
    if not found:
        return wanted
    (implied,) = found
    if wanted is not None and wanted is not implied:
        address = next(str(a) for a in addresses if a is not None)
        raise QueryError(f"address {address} is {implied.value}, but --family is {value}")
    return implied


def _family_of(address: IPAddress) -> Family:
    return Family.IPV4 if address.version == 4 else Family.IPV6


def _filter_argv(query: ConntrackQuery) -> tuple[str, ...]:
    # -p before the ports: --sport/--dport are options of the protocol extension -p loads.
    argv: list[str] = []
    for option, address in (("-s", query.src), ("-d", query.dst)):
        if address is not None:
            argv += [option, normalize_address(str(address))]
    if query.proto_name is not None:
        argv += ["-p", query.proto_name]
    for option, number in (("--sport", query.sport), ("--dport", query.dport), ("-w", query.zone)):
        if number is not None:
            argv += [option, str(number)]
    return tuple(argv)


def conntrack_argv(query: ConntrackQuery, cli_version: str) -> tuple[tuple[str, ...], ...]:
    """The conntrack CLI command(s) answering ``query`` on a node with tools ``cli_version``.

    Listings use ``-o extended`` so every line names its family. Both families need two
    ``-L`` calls (``-f ipv4``, ``-f ipv6``) on tools that list IPv4 only by default (the rule
    of :func:`ctdiag.collect.plan.listing_commands`). A filtered count is a listing
    (:attr:`ConntrackQuery.counts_by_listing`): the caller counts the matching lines.

    Args:
        query: the validated query.
        cli_version: ``conntrack --version``'s number, e.g. ``1.4.7``.
    """
    if query.mode is QueryMode.STATS:
        return (("conntrack", "-S"),)
    if query.mode is QueryMode.COUNT and not query.has_filters:
        return (("conntrack", "-C"),)
    filters = _filter_argv(query)
    if query.family is not None:
        return ((*_LISTING, *filters, "-f", query.family.value),)
    return tuple((*command.argv, *filters) for command in listing_commands(cli_version))


def proc_argv(query: ConntrackQuery) -> tuple[tuple[str, ...], ...]:
    """The ``cat`` command answering ``query`` from ``/proc`` on a node without the CLI.

    Listings and filtered counts read :data:`PROC_ENTRIES` (the caller filters it with
    :func:`entry_matches`); a plain count reads :data:`PROC_COUNT`, statistics
    :data:`PROC_STATS`.
    """
    if query.mode is QueryMode.STATS:
        return (("cat", PROC_STATS),)
    if query.mode is QueryMode.COUNT and not query.has_filters:
        return (("cat", PROC_COUNT),)
    return (("cat", PROC_ENTRIES),)


def entry_matches(entry: ConntrackEntry, query: ConntrackQuery) -> bool:
    """Whether ``conntrack -L`` with the query's filters would list ``entry``.

    Addresses and ports are those of the original direction; the zone is the
    non-directional one (0 when the line shows none).
    """
    q = query
    if q.family is not None and entry.family is not q.family:
        return False
    if q.proto is not None and entry.protonum != q.proto:
        return False
    if q.zone is not None and entry.zone != q.zone:
        return False
    orig = entry.orig
    if q.sport is not None and orig.sport != q.sport:
        return False
    if q.dport is not None and orig.dport != q.dport:
        return False
    if q.src is not None and orig.src != normalize_address(str(q.src)):
        return False
    return q.dst is None or orig.dst == normalize_address(str(q.dst))


def table_matches(table: ConntrackTable, query: ConntrackQuery) -> npt.NDArray[np.bool_]:
    """:func:`entry_matches` for every row of a parsed table at once (one bool per row).

    Works on the columns, so a 262,144-entry table is filtered in milliseconds instead of
    the seconds it takes to build each entry; rows kept whole in ``overflow`` are judged
    by :func:`entry_matches` itself.
    """
    c = table.columns
    mask = np.ones(len(table), dtype=np.bool_)
    if query.family is not None:
        mask &= c["family"] == (6 if query.family is Family.IPV6 else 4)
    if query.proto is not None:
        mask &= c["protonum"] == query.proto
    if query.zone is not None:
        mask &= c["zone"] == query.zone
    for index, port in enumerate((query.sport, query.dport)):
        if port is not None:
            has_ports = (c["present"] & int(Present.L4_ORIG)) != 0
            mask &= has_ports & (c["orig_l4"][:, index] == port)
    codes = {text: code for code, text in enumerate(table.dictionaries["addresses"])}
    for column, address in (("orig_src", query.src), ("orig_dst", query.dst)):
        if address is not None:
            code = codes.get(normalize_address(str(address)))
            mask &= False if code is None else c[column] == code
    for row, entry in table.overflow.items():
        mask[row] = entry_matches(entry, query)
    return mask
