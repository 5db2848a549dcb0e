"""Hostile-line benchmark: 1 MB flow lines of bracket runs, ``=`` runs, long tokens, whitespace.

Usage::

    python benchmarks/bench_hostile_lines.py [--size-kb 1024] [--repeat 3] [--spec-kb 0]

Each shape is a valid ``conntrack -L`` flow line (the DNAT example of conntrack-formats.md)
with ``--size-kb`` of hostile text (UTF-8 bytes) after its reply tuple, before ``use=1``, so
the parser walks the whole of it. In one process, alternating, best of ``--repeat``:

- ``str.split`` of the line: the floor (any tokeniser builds the same list of strings);
- the reference tokeniser, :func:`ctdiag.parse.tokens.split_tokens` (goal: < 0.1 s per 1 MB);
- the reference parser, :func:`ctdiag.parse.entries.parse_entry_line`;
- the whole :func:`ctdiag.parse.listing.parse_listing` of the line (C fast path first, which
  declines it, then the reference), with what it made of the line.

``--spec-kb N`` also times ``TOKEN_RE.findall`` (the specification the tokeniser computes,
and the tokeniser before it) once on an N KB version of each shape: it is quadratic, so keep
N small (128 KB of ``[ `` takes about 30 s). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

from ctdiag.errors import ParseError
from ctdiag.parse.entries import parse_entry_line
from ctdiag.parse.listing import parse_listing
from ctdiag.parse.tokens import TOKEN_RE, split_tokens

PREFIX = (
    "tcp      6 431999 ESTABLISHED src=203.0.113.50 dst=198.51.100.10 sport=51234 dport=443 "
    "src=10.0.0.21 dst=203.0.113.50 sport=8443 dport=51234 [ASSURED] mark=0 "
)
GOAL_TOKENISER_S = 0.1

#: name -> payload of about ``size`` UTF-8 bytes.
SHAPES: dict[str, Callable[[int], str]] = {
    "`[` run": lambda size: "[" * size,
    "`[ ` unclosed brackets": lambda size: "[ " * (size // 2),
    "`[ ` ... `]x` (one far `]`, glued)": lambda size: "[ " * (size // 2 - 1) + "]x",
    "`[ ]` bracket tokens": lambda size: "[ ] " * (size // 4),
    "`[ a]b` glued `]`": lambda size: "[ a]b " * (size // 6),
    "`=` run": lambda size: "=" * size,
    "`= ` tokens": lambda size: "= " * (size // 2),
    "long unknown token `x=aaa...`": lambda size: "x=" + "a" * size,
    "ASCII space run": lambda size: " " * size,
    "U+3000 whitespace run": lambda size: "\u3000" * (size // 3),
}


def flow_line(shape: str, size: int) -> str:
    return PREFIX + SHAPES[shape](size) + " use=1"


def best_of(repeat: int, calls: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best wall time of each call, the calls alternating round by round."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def parse_or_reason(line: str) -> object:
    try:
        return parse_entry_line(line)
    except ParseError as err:
        return err


def outcome(line: str) -> str:
    table = parse_listing((line + "\n").encode())
    if len(table):
        return f"entry, {len(table.entry(0).extra):,} extra tokens"
    (bad,) = table.diagnostics.malformed
    return f"malformed: {bad.reason[:40]}..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-kb", type=int, default=1024, help="hostile text per line")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--spec-kb", type=int, default=0, help="also time TOKEN_RE on N KB")
    args = parser.parse_args()
    size = args.size_kb * 1024
    rows = []
    for shape in SHAPES:
        line = flow_line(shape, size)
        data = (line + "\n").encode()
        tokens = split_tokens(line)
        times = best_of(
            args.repeat,
            {
                "split": line.split,
                "tokens": partial(split_tokens, line),
                "parse": partial(parse_or_reason, line),
                "listing": partial(parse_listing, data),
            },
        )
        spec = ""
        if args.spec_kb:
            small = flow_line(shape, args.spec_kb * 1024)
            start = time.perf_counter()
            TOKEN_RE.findall(small)
            spec = f" | {time.perf_counter() - start:.3f} s"
        ok = "ok" if times["tokens"] < GOAL_TOKENISER_S * size / (1 << 20) else "**over**"
        rows.append(
            f"| {shape} | {len(tokens):,} | {times['split']:.3f} s | "
            f"**{times['tokens']:.3f} s** ({ok}) | {times['parse']:.3f} s | "
            f"{times['listing']:.3f} s | {outcome(line)}{spec} |"
        )
    print(f"Hostile flow lines: {args.size_kb:,} KB of each shape after the reply tuple, "
          f"best of {args.repeat}, alternating in one process")  # fmt: skip
    print()
    spec_head = f" | `TOKEN_RE` alone, {args.spec_kb} KB" if args.spec_kb else ""
    print(
        "| shape | tokens | `str.split` (floor) | tokeniser (goal < 0.1 s/MB) | reference "
        f"parser | `parse_listing` | result{spec_head} |"
    )
    print("|---|---|---|---|---|---|---" + ("|---|" if args.spec_kb else "|"))
    for row in rows:
        print(row)
    print()
    print("Reproduce: python benchmarks/bench_hostile_lines.py")


if __name__ == "__main__":
    main()
