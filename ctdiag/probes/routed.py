"""What a node routes to its pods and Services: probe targets read from the node itself.

For ``--local``, ``--netns`` and ``--lab`` runs, probes may only go where the node's own
state says its Services and pods are, never where the expectations being checked say
(:func:`routed_targets`, pure, over the outputs the collection reads anyway):

* Service addresses: every positive ``-d ADDR/32`` (or ``/128``) match of a nat-table rule
  in a kube-proxy chain (``KUBE-SERVICES``, ``KUBE-SVC-*``, ``KUBE-EXT-*``...) or jumping to
  ``DNAT`` (``iptables-save -t nat``, and ``ip6tables-save -t nat`` for IPv6 Services), the
  addresses on ``kube-ipvs0`` (kube-proxy's IPVS mode, ``ip -o addr show``), and the
  elements of the ``service-ips`` map and ``cluster-ips`` set of the ``kube-proxy`` tables
  (its nftables mode, ``nft list ruleset``);
* pod addresses: every single address a nat rule DNATs to (``--to-destination``, or nft's
  ``dnat to``: the endpoints the node translates Services to), and every pod route
  (``ip -o route show``, ``ip -o -6 route show``): a unicast /32 or /128 route straight onto
  a device (no gateway), not installed by the kernel, DHCP or router advertisements, on a
  device that carries neither a default route nor a connected subnet of the node's own
  addresses (an uplink). Calico, the AWS VPC CNI and the lab route each local pod that way.

Nothing else is: neighbours on the node's own subnets (its gateway, other hosts), routes
through gateways (other nodes' pod CIDRs, a Service CIDR), blackhole and local routes. An
output that could not be read adds nothing, so a node that cannot be read is probed less,
never more.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterator

from ctdiag.collect.plan import COMMAND_TIMEOUT, context_commands
from ctdiag.collect.runners import CommandRunner
from ctdiag.model.outputs import OutputName, Snapshot
from ctdiag.model.probes import ProbeTargets

#: How a refusal line ends for these targets.
BASIS = "this node routes"
#: The outputs the targets are read from, all of them collected by the snapshot plan.
OUTPUTS = (OutputName.ROUTES, OutputName.ROUTES6, OutputName.ADDRESSES, OutputName.RULES_NAT,
           OutputName.RULES6_NAT, OutputName.NFT_RULESET)  # fmt: skip
#: kube-proxy's IPVS mode binds every Service address to this dummy device.
IPVS_DEVICE = "kube-ipvs0"
#: kube-proxy's nftables mode: its tables (``ip`` and ``ip6``), and the map and set whose
#: elements (first field) are the Service addresses (pkg/proxy/nftables/proxier.go).
NFT_TABLE = "kube-proxy"
NFT_SERVICE_ELEMENTS = frozenset({"service-ips", "cluster-ips"})

_ROUTE_TYPES = frozenset({"unicast", "local", "broadcast", "multicast", "throw", "unreachable",
                          "prohibit", "blackhole", "nat", "anycast"})  # fmt: skip
#: Routes these protocols install are the node's own networks, not pods.
_NOT_POD_PROTOCOLS = frozenset({"kernel", "dhcp", "ra", "redirect"})
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_NFT_DNAT = re.compile(r"\bdnat (?:ip6? )?to (\S+)")
_NFT_BLOCK = re.compile(r"^\s*(table|set|map|chain) (?:\S+ )?(\S+) \{")
_ADDRESS_LINE = re.compile(r"^\d+:\s+(\S+)\s+inet6?\s+([0-9A-Fa-f.:]+)(?:/\d+)?\s")


def _host(text: str) -> str | None:
    """``text`` (``ADDR``, ``ADDR/32``, ``ADDR/128``) as one normal address, else ``None``."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None
    return str(net.network_address) if net.num_addresses == 1 else None


def _dnat_address(text: str) -> str | None:
    """The single address of a ``--to-destination`` value (``10.244.1.11:8080``,
    ``[fd00::5]:53``, ``10.0.0.1``); ``None`` for a range or a port alone."""
    if text.startswith("["):
        address = text[1:].split("]", 1)[0]
    elif text.count(":") > 1:
        address = text
    else:
        address = text.split(":", 1)[0]
    return _host(address) if address and "-" not in address else None


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:  # an unbalanced quote in a comment: the options still split on blanks
        return line.split()


def nat_addresses(rules_nat: str) -> tuple[set[str], set[str]]:
    """(Service addresses, DNAT target addresses) of ``iptables-save -t nat`` output."""
    services: set[str] = set()
    targets: set[str] = set()
    for line in rules_nat.splitlines():
        if not line.startswith("-A "):
            continue
        words = _words(line)
        chain = words[1] if len(words) > 1 else ""
        destinations: list[str] = []
        jump = ""
        negated = False
        for word, value in zip(words, [*words[1:], ""], strict=True):
            if word == "!":
                negated = True
                continue
            if word in ("-d", "--destination") and not negated:
                destinations.append(value)
            elif word in ("-j", "--jump"):
                jump = value
            elif word == "--to-destination" and (address := _dnat_address(value)):
                targets.add(address)
            negated = False
        if jump == "DNAT" or chain.startswith("KUBE-"):
            services.update(a for d in destinations if (a := _host(d)) is not None)
    return services, targets


def nft_addresses(ruleset: str) -> tuple[set[str], set[str]]:
    """(Service addresses, DNAT target addresses) of ``nft list ruleset`` output: the
    elements of :data:`NFT_SERVICE_ELEMENTS` in :data:`NFT_TABLE` tables, every ``dnat to``."""
    services: set[str] = set()
    targets: set[str] = set()
    table = block = ""
    elements: list[str] | None = None  # the text of an ``elements = { ... }`` being read
    for line in ruleset.splitlines():
        if elements is not None:  # nft folds long element lists over several lines
            elements.append(line)
        elif opened := _NFT_BLOCK.match(line):
            table, block = (opened[2], "") if opened[1] == "table" else (table, opened[2])
        elif table == NFT_TABLE and block in NFT_SERVICE_ELEMENTS and "elements = {" in line:
            elements = [line.split("elements = {", 1)[1]]
        if elements is not None and "}" in elements[-1]:
            text = " ".join(elements).split("}", 1)[0]
            for element in text.split(","):
                first = element.split(" . ", 1)[0].split(" : ", 1)[0].strip()
                if (address := _host(first)) is not None:
                    services.add(address)
            elements = None
        for value in _NFT_DNAT.findall(line):
            if address := _dnat_address(value.rstrip(",")):
                targets.add(address)
    return services, targets


def ipvs_addresses(addresses: str) -> set[str]:
    """The addresses on :data:`IPVS_DEVICE` in ``ip -o addr show`` output."""
    found = set()
    for line in addresses.splitlines():
        match = _ADDRESS_LINE.match(line)
        if match and match[1].split("@", 1)[0] == IPVS_DEVICE and (a := _host(match[2])):
            found.add(a)
    return found


#: (type, destination, via/dev/proto options, every device named) of one route.
_Route = tuple[str, str, dict[str, str], frozenset[str]]


def _route_fields(line: str) -> _Route | None:
    """One ``ip -o route`` line; a multipath route counts as one through a gateway."""
    words = line.replace("\\", " ").split()
    kind = "unicast"
    if words and words[0] in _ROUTE_TYPES:
        kind, words = words[0], words[1:]
    if not words:
        return None
    pairs = list(zip(words[1:], [*words[2:], ""], strict=True))
    options = {key: value for key, value in pairs if key in ("via", "dev", "proto")}
    if "nexthop" in words:
        options.setdefault("via", "nexthop")
    return kind, words[0], options, frozenset(value for key, value in pairs if key == "dev")


def _routes(*texts: str) -> Iterator[_Route]:
    for text in texts:
        for line in text.splitlines():
            if fields := _route_fields(line):
                yield fields


def _is_subnet(destination: str) -> bool:
    try:
        net = ipaddress.ip_network(destination, strict=False)
    except ValueError:
        return False
    return net.num_addresses > 1 and not any(net.network_address in ll for ll in _LINK_LOCAL)


def pod_routes(routes: str, routes6: str = "") -> set[str]:
    """Addresses of pod routes (see the module docstring) in ``ip -o route show`` output."""
    uplinks: set[str] = set()
    for kind, destination, options, devices in _routes(routes, routes6):
        if kind == "unicast" and (destination == "default" or (
                options.get("proto") == "kernel" and _is_subnet(destination))):  # fmt: skip
            uplinks |= devices
    found = set()
    for kind, destination, options, _ in _routes(routes, routes6):
        device = options.get("dev")
        if kind != "unicast" or not device or device in uplinks or device == "lo":
            continue
        if "via" in options or options.get("proto") in _NOT_POD_PROTOCOLS:
            continue
        if (address := _host(destination)) is not None:
            found.add(address)
    return found


def routed_targets(
    routes: str,
    routes6: str,
    addresses: str,
    rules_nat: str,
    rules6_nat: str = "",
    nft_ruleset: str = "",
) -> ProbeTargets:
    """The probe targets of a node from its outputs (see the module docstring).

    Args:
        routes: ``ip -o route show``.
        routes6: ``ip -o -6 route show``.
        addresses: ``ip -o addr show``.
        rules_nat: ``iptables-save -t nat``.
        rules6_nat: ``ip6tables-save -t nat``.
        nft_ruleset: ``nft list ruleset``.
    """
    services, endpoints = nat_addresses(f"{rules_nat}\n{rules6_nat}")
    nft_services, nft_endpoints = nft_addresses(nft_ruleset)
    services |= nft_services
    endpoints |= nft_endpoints
    services |= ipvs_addresses(addresses)
    pods = (endpoints | pod_routes(routes, routes6)) - services
    return ProbeTargets(frozenset(services), frozenset(pods), (), BASIS)


def snapshot_targets(snapshot: Snapshot) -> ProbeTargets:
    """The probe targets of a node from its collected snapshot (its outputs of
    :data:`OUTPUTS`; one that is missing or failed adds nothing)."""
    return routed_targets(*(snapshot.text_if_ok(name) for name in OUTPUTS))


def read_targets(runner: CommandRunner, *, timeout: float = COMMAND_TIMEOUT) -> ProbeTargets:
    """The probe targets of the runner's node, read now with the snapshot plan's commands
    (a command that fails adds nothing).

    Raises:
        CollectionError: a command could not be run at all (timeout, no namespace).
    """
    plan = {command.name: command for command in context_commands()}
    texts = []
    for name in OUTPUTS:
        out = runner.run(f"probe_{name}", plan[name].argv, timeout=timeout)
        texts.append(out.text if out.ok else "")
    return routed_targets(*texts)
