"""Small readers of a lab namespace's conntrack state, for scenarios and the lab's tests.

Deliberately independent of :mod:`ctdiag.parse`: the lab is the ground truth the real
parsers are tested against, so it must not share their bugs. Only the fields the lab needs
are read from ``/proc/net/nf_conntrack`` and ``/proc/net/stat/nf_conntrack``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctdiag.errors import LabError
from ctdiag.lab.netns import read_sysctl, run


@dataclass(frozen=True, slots=True)
class LabFlow:
    """The parts of one conntrack entry the lab asserts on."""

    proto: str
    state: str | None
    orig_src: str
    orig_dst: str
    orig_sport: int | None
    orig_dport: int | None
    reply_src: str
    reply_dst: str
    reply_sport: int | None
    reply_dport: int | None
    flags: tuple[str, ...]

    @property
    def dnat(self) -> bool:
        return self.reply_src != self.orig_dst or self.reply_sport != self.orig_dport

    @property
    def unreplied(self) -> bool:
        return "UNREPLIED" in self.flags


@dataclass(frozen=True, slots=True)
class StatTotals:
    """``/proc/net/stat/nf_conntrack`` summed over CPUs (``entries`` is not per CPU)."""

    entries: int
    invalid: int
    insert: int
    insert_failed: int
    drop: int
    early_drop: int
    clash_resolve: int
    chaintoolong: int
    search_restart: int


def _port(value: str | None) -> int | None:
    return int(value) if value is not None else None


def parse_flow(line: str) -> LabFlow | None:
    """One ``/proc/net/nf_conntrack`` line, or ``None`` for non-IPv4 or port-less lines."""
    tokens = line.split()
    if len(tokens) < 5 or tokens[0] != "ipv4":
        return None
    proto = tokens[2]
    state = tokens[5] if len(tokens) > 5 and tokens[5].isupper() and "=" not in tokens[5] else None
    tuples: list[dict[str, str]] = []
    flags: list[str] = []
    for tok in tokens[5:]:
        if tok.startswith("[") and tok.endswith("]"):
            flags.append(tok[1:-1])
            continue
        key, sep, value = tok.partition("=")
        if not sep:
            continue
        if key == "src":
            tuples.append({})
        if tuples and key in {"src", "dst", "sport", "dport"} and key not in tuples[-1]:
            tuples[-1][key] = value
    if len(tuples) < 2:
        return None
    orig, reply = tuples[0], tuples[1]
    return LabFlow(
        proto=proto,
        state=state,
        orig_src=orig["src"],
        orig_dst=orig["dst"],
        orig_sport=_port(orig.get("sport")),
        orig_dport=_port(orig.get("dport")),
        reply_src=reply["src"],
        reply_dst=reply["dst"],
        reply_sport=_port(reply.get("sport")),
        reply_dport=_port(reply.get("dport")),
        flags=tuple(flags),
    )


def read_flows(namespace: str) -> list[LabFlow]:
    """Every IPv4 entry of ``namespace``'s table, from ``/proc/net/nf_conntrack``."""
    text = run(["cat", "/proc/net/nf_conntrack"], namespace=namespace, timeout=60).stdout
    return [f for f in map(parse_flow, text.splitlines()) if f is not None]


def parse_stat(text: str) -> StatTotals:
    """Sum the per-CPU rows of ``/proc/net/stat/nf_conntrack`` (hex fields, header line).

    Raises:
        LabError: no header or no rows.
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise LabError("empty /proc/net/stat/nf_conntrack")
    header = lines[0]
    totals = dict.fromkeys(header, 0)
    for row in lines[1:]:
        for name, value in zip(header, row, strict=False):
            totals[name] += int(value, 16)

    def get(*names: str) -> int:
        return next((totals[n] for n in names if n in totals), 0)

    return StatTotals(
        entries=int(lines[1][0], 16),
        invalid=get("invalid"),
        insert=get("insert"),
        insert_failed=get("insert_failed"),
        drop=get("drop"),
        early_drop=get("early_drop"),
        clash_resolve=get("clashres", "clash_resolve"),
        # The kernel's header names the chaintoolong column "chainlength".
        chaintoolong=get("chainlength", "chaintoolong"),
        search_restart=get("search_restart"),
    )


def read_stats(namespace: str) -> StatTotals:
    """Counters of ``namespace`` (the file shows the reading process's namespace)."""
    return parse_stat(run(["cat", "/proc/net/stat/nf_conntrack"], namespace=namespace).stdout)


def read_count(namespace: str) -> int:
    """``nf_conntrack_count`` of ``namespace``."""
    return int(read_sysctl(namespace, "net.netfilter.nf_conntrack_count"))


def read_max(namespace: str) -> int:
    """``nf_conntrack_max`` (global, the same in every namespace)."""
    return int(read_sysctl(namespace, "net.netfilter.nf_conntrack_max"))


def flush(namespace: str) -> None:
    """Delete every entry of ``namespace``'s table (``conntrack -F``)."""
    run(["conntrack", "-F"], namespace=namespace, timeout=60)


def delete_flows(namespace: str, *, proto: str, orig_dst: str) -> None:
    """Delete entries of ``proto`` whose original destination is ``orig_dst``."""
    # conntrack -D exits 1 when nothing matched: not an error for a cleanup.
    run(["conntrack", "-D", "-p", proto, "--orig-dst", orig_dst], namespace=namespace, check=False)
