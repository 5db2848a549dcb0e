"""Writing run directories: every node's sample of one run, saved as it arrives.

The layout (``docs/snapshot-format.md``, "Run directories")::

    DIR/run.json              manifest: format, version, nodes in order, window, times
    DIR/<node dir>/before/    the node's full snapshot (a ctdiag.model.outputs directory)
    DIR/<node dir>/after/     its counters a window later; absent without a window

Node names become safe directory names (:func:`node_directory`); the real name stays in
``run.json`` and in each snapshot. Reading is :mod:`ctdiag.collect.store.run_reader`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import ctdiag
from ctdiag.collect.store.snapshot_dir import save
from ctdiag.errors import SnapshotError
from ctdiag.model.samples import NodeSample

RUN_MANIFEST = "run.json"
RUN_FORMAT = "ctdiag-run"
#: Bump on any change a reader of the previous version would misread.
RUN_FORMAT_VERSION = 1
BEFORE = "before"
AFTER = "after"
#: What a node directory name may be; anything else in a manifest is refused.
DIRECTORY_NAME = re.compile(r"[a-z0-9_][a-z0-9._-]{0,99}")
_UNSAFE = re.compile(r"[^a-z0-9._-]")
_NAME_LIMIT = 80


def node_directory(node: str) -> str:
    """The directory name of ``node`` in a run directory: safe on any file system.

    Names already made of ``[a-z0-9._-]`` (every Kubernetes node name) are kept. Others are
    lower-cased, their other characters replaced by ``_``, and a short hash of the real name
    appended, so ``Node/A`` and ``node_a`` stay apart.
    """
    safe = _UNSAFE.sub("_", node.lower())[:_NAME_LIMIT]
    if safe[:1] in ("", ".", "-"):
        safe = "_" + safe[1:]
    if safe != node:
        safe += "-" + hashlib.sha256(node.encode()).hexdigest()[:8]
    return safe


def run_error(root: Path, reason: str, file: str = RUN_MANIFEST) -> SnapshotError:
    return SnapshotError(f"run {root}: {file}: {reason}")


def check_free(directory: str | os.PathLike[str]) -> Path:
    """``directory`` as a Path, if a run can be saved there (absent, or an empty directory).

    Raises:
        SnapshotError: it is a file, or a directory that is not empty.
    """
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise SnapshotError(f"run {root}: already exists and is not empty, not overwriting")
    return root


class RunWriter:
    """Writes a run directory node by node, as each node's sample arrives.

    Nothing is written before the first node; then the directory is created (it must be
    absent or empty) and ``run.json`` is rewritten, through a rename, after every node, so
    an interrupted run leaves a readable run of the nodes saved so far.

    Args:
        directory: where the run goes.
        window_s: the sampling window of the run (0: no ``after`` snapshots).
        order: node names in the run's order; ``run.json`` lists nodes in this order, others
            after them in the order they arrived.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, window_s: float, order: Sequence[str] = ()
    ) -> None:
        self.path = Path(directory)
        self.window_s = window_s
        self._order = list(order)
        self._created_at = datetime.now(UTC)
        self._entries: dict[str, dict[str, object]] = {}
        #: Node -> its directory, from the moment it is claimed (before its files are saved).
        self._claims: dict[str, str | None] = {}
        self._claimed = False
        # Samples arrive from the scheduler's pool threads: claims and run.json are shared.
        self._lock = threading.Lock()

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes listed in ``run.json`` so far (collected or not), in arrival order."""
        with self._lock:
            return tuple(self._entries)

    def record(self, sample: NodeSample) -> None:
        """Save ``sample`` under its node's directory and list it in ``run.json``.

        Safe to call from several threads at once; the node's files are written outside the
        lock (each node has its own directory), ``run.json`` under it.

        Raises:
            SnapshotError: the directory was not free, the node was saved already, or a
                file cannot be written.
        """
        directory = node_directory(sample.node)
        self._claim(sample.node, directory)
        try:
            save(sample.before, self.path / directory / BEFORE)
            if sample.after is not None:
                save(sample.after, self.path / directory / AFTER)
        except BaseException:
            with self._lock:
                del self._claims[sample.node]
            raise
        self._add(sample.node, directory, after=sample.after is not None, error=None)

    def record_failure(self, node: str, message: str) -> None:
        """List ``node`` in ``run.json`` as not collected, with the error the run reported."""
        self._claim(node, None)
        self._add(node, None, after=False, error=message)

    def _claim(self, node: str, directory: str | None) -> None:
        with self._lock:
            if node in self._claims:
                raise run_error(self.path, f"node {node!r} is saved already")
            if directory is not None and directory in self._claims.values():
                raise run_error(self.path, f"two nodes map to directory {directory!r}")
            if not self._claimed:
                check_free(self.path)
                try:
                    self.path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise SnapshotError(f"run {self.path}: cannot create ({exc.strerror})") from exc
                self._claimed = True
            self._claims[node] = directory

    def _add(self, node: str, directory: str | None, *, after: bool, error: str | None) -> None:
        with self._lock:
            self._entries[node] = {"node": node, "directory": directory, "after": after,
                                   "error": error}  # fmt: skip
            rank = {name: index for index, name in enumerate(self._order)}
            names = sorted(self._entries, key=lambda name: rank.get(name, len(rank)))
            manifest = {
                "format": RUN_FORMAT,
                "format_version": RUN_FORMAT_VERSION,
                "ctdiag_version": ctdiag.__version__,
                "created_at": self._created_at.isoformat(),
                "window_s": self.window_s,
                "nodes": [self._entries[name] for name in names],
            }
            self._replace_manifest(json.dumps(manifest, indent=2) + "\n")

    def _replace_manifest(self, text: str) -> None:
        # A name of this process and thread: another writer of the same directory (a second
        # process) never shares the temporary file, and readers only ever see whole files.
        temporary = self.path / f".{RUN_MANIFEST}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path / RUN_MANIFEST)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise run_error(self.path, f"cannot write ({exc.strerror})") from exc


def save_samples(
    directory: str | os.PathLike[str], samples: Sequence[NodeSample], *, window_s: float = 0.0
) -> Path:
    """Save ``samples`` as a new run directory (which must be absent or empty).

    Raises:
        SnapshotError: the directory is not free, two samples are of one node, or a file
            cannot be written.
    """
    check_free(directory)
    writer = RunWriter(directory, window_s=window_s, order=[s.node for s in samples])
    for sample in samples:
        writer.record(sample)
    return writer.path
