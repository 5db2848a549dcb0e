"""Many small commands in one exec: a constant POSIX ``sh`` script and its framed output.

Each exec is a round trip through the API server and the kubelet (and a TLS handshake), so
a node's two dozen small reads cost more in execs than in work. :data:`BUNDLE_SCRIPT` runs
them one after the other in one exec and frames each one's exit status, stdout and stderr by
their lengths, so binary output survives. The commands arrive as positional arguments, each
as its word count followed by its words; the script only ever ``eval``s references such as
``"${3}"`` that it built from numbers itself, so no word is ever read as shell code.

:data:`LOCATE_SCRIPT` says which programs a filesystem has, so commands are sent to the
image or to the host (``chroot /host``) exactly as one exec per command would have been.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ctdiag.errors import CollectionError

#: Runs ``N1 WORD... N2 WORD...`` in order; prints ``ctdiag-part I STATUS OUT ERR`` and
#: then OUT bytes of stdout and ERR bytes of stderr for each. Exit 125: no temporary dir.
BUNDLE_SCRIPT = (
    'd=$(mktemp -d) || exit 125\n'
    "trap 'rm -rf \"$d\"' EXIT\n"
    "i=0\n"
    'while [ "$#" -gt 0 ]; do\n'
    '  n=$1; shift; words=""; k=1\n'
    '  while [ "$k" -le "$n" ]; do words="$words \\"\\${$k}\\""; k=$((k + 1)); done\n'
    '  eval "$words" </dev/null >"$d/o" 2>"$d/e"\n'
    "  rc=$?\n"
    "  printf 'ctdiag-part %s %s %s %s\\n' \"$i\" \"$rc\" "
    '"$(wc -c <"$d/o")" "$(wc -c <"$d/e")"\n'
    '  cat "$d/o" "$d/e"\n'
    '  shift "$n"; i=$((i + 1))\n'
    "done\n"
)
#: How errors name :data:`BUNDLE_SCRIPT` (a one-line ERROR cannot hold the script).
BUNDLE_SCRIPT_NAME = "<the bundled reads script>"
#: Prints each of its arguments that names a program on this filesystem's ``PATH``.
LOCATE_SCRIPT = 'for p in "$@"; do command -v "$p" >/dev/null 2>&1 && printf "%s\\n" "$p"; done\n'
LOCATE_SCRIPT_NAME = "<the program lookup script>"
_MARK = b"ctdiag-part "


@dataclass(frozen=True, slots=True)
class BundledResult:
    """One command's share of a bundle's output."""

    exit_status: int
    stdout: bytes
    stderr: bytes


def bundle_words(commands: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The positional arguments of :data:`BUNDLE_SCRIPT` for ``commands``."""
    words: list[str] = []
    for argv in commands:
        if not argv:
            raise ValueError("an empty command cannot be bundled")
        words += [str(len(argv)), *argv]
    return tuple(words)


def split_bundle(stdout: bytes, count: int, *, node: str) -> list[BundledResult]:
    """The ``count`` results framed in a bundle's ``stdout``.

    Raises:
        CollectionError: the framing is cut short or malformed (the exec ended early).
    """
    results: list[BundledResult] = []
    at = 0
    for index in range(count):
        end = stdout.find(b"\n", at)
        header = stdout[at:end].split() if end >= 0 else []
        if (
            end < 0 or len(header) != 5 or stdout[at : at + len(_MARK)] != _MARK
            or header[1] != str(index).encode() or not all(f.isdigit() for f in header[2:])
        ):  # fmt: skip
            raise CollectionError(f"bundled reads cut short at command {index + 1} of {count}",
                                  node=node)  # fmt: skip
        status, out, err = (int(f) for f in header[2:])
        body = end + 1
        if body + out + err > len(stdout):
            raise CollectionError(f"bundled reads cut short in command {index + 1} of {count}",
                                  node=node)  # fmt: skip
        results.append(BundledResult(status, stdout[body : body + out],
                                     stdout[body + out : body + out + err]))  # fmt: skip
        at = body + out + err
    if at != len(stdout):
        raise CollectionError(f"bundled reads: {len(stdout) - at} bytes after the last command",
                              node=node)  # fmt: skip
    return results
