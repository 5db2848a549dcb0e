"""Hand a run over: read back the run directories ``pytest --save-snapshot DIR`` writes.

``pytest --snapshot DIR`` re-runs the checks on a run offline and ``python -m ctdiag diff``
compares two. A run directory (layout in :mod:`ctdiag.collect.store.run_writer` and
``docs/snapshot-format.md``) holds a ``run.json`` manifest and, per node, a ``before/`` and
(with a sampling window) an ``after/`` snapshot directory. One node's directory, or a lone
snapshot directory, is read as a run of one node.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ctdiag.analyze.rates import Sample
from ctdiag.collect.store.files import ManifestReader
from ctdiag.collect.store.run_writer import (
    AFTER,
    BEFORE,
    DIRECTORY_NAME,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    RUN_MANIFEST,
    RunWriter,
    check_free,
    node_directory,
    run_error,
    save_samples,
)
from ctdiag.collect.store.snapshot_dir import MANIFEST, load
from ctdiag.errors import SnapshotError
from ctdiag.model.outputs import Snapshot
from ctdiag.model.samples import NodeSample

__all__ = [
    "RUN_MANIFEST",
    "RunWriter",
    "SavedNode",
    "SavedRun",
    "check_free",
    "load_sample",
    "load_samples",
    "node_directory",
    "read_run",
    "save_samples",
]


@dataclass(frozen=True, slots=True)
class SavedNode:
    """One node of a saved run, not loaded yet.

    Attributes:
        node: the real node name.
        before: its full snapshot directory; ``None`` when its collection failed.
        after: its counters a window later; ``None`` without a window.
        error: why its collection failed, as the run reported it; ``None`` when it did not.
    """

    node: str
    before: Path | None
    after: Path | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SavedRun:
    """The manifest of a run directory (or a lone snapshot directory), validated.

    Attributes:
        path: the directory.
        nodes: its nodes, in the run's order.
        window_s: the sampling window the run asked for; ``None`` for a lone snapshot.
        ctdiag_version: the ctdiag that saved it (``None`` for a lone snapshot).
        created_at: when the run started (``None`` for a lone snapshot).
    """

    path: Path
    nodes: tuple[SavedNode, ...]
    window_s: float | None = None
    ctdiag_version: str | None = None
    created_at: datetime | None = None


class _RunReader(ManifestReader):
    def error(self, reason: str, file: str | None = None) -> SnapshotError:
        return run_error(self.root, reason, file or self.file)


def read_run(directory: str | os.PathLike[str]) -> SavedRun:
    """The run saved in ``directory``: a run directory, one node's directory or a snapshot.

    Only manifests are read (and every node's ``before`` checked to exist); snapshots are
    read by :func:`load_sample`.

    Raises:
        SnapshotError: one line naming the directory and the file at fault.
    """
    root = Path(directory)
    if (root / RUN_MANIFEST).is_file():
        return _read_run_manifest(root)
    if (root / MANIFEST).is_file():
        return SavedRun(root, (SavedNode(_snapshot_node(root), root),))
    if (root / BEFORE / MANIFEST).is_file():
        after = root / AFTER if (root / AFTER).exists() else None
        return SavedRun(root, (SavedNode(_snapshot_node(root / BEFORE), root / BEFORE, after),))
    what = "no such directory" if not root.exists() else "not a run or snapshot directory"
    raise SnapshotError(f"run {root}: {what} (no {RUN_MANIFEST} or {MANIFEST})")


def _snapshot_node(root: Path) -> str:
    reader = ManifestReader(root, MANIFEST)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise reader.error(f"unreadable ({exc})") from exc
    return reader.value(manifest, "node", str)


def _read_run_manifest(root: Path) -> SavedRun:
    reader = _RunReader(root, RUN_MANIFEST)
    try:
        manifest = json.loads((root / RUN_MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise reader.error(exc.strerror or "cannot be read") from exc
    except ValueError as exc:
        raise reader.error(f"not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != RUN_FORMAT:
        raise reader.error(f"not a {RUN_FORMAT} manifest")
    version = manifest.get("format_version")
    if version != RUN_FORMAT_VERSION or isinstance(version, bool):
        raise reader.error(
            f"unknown format version {version!r} (this ctdiag reads {RUN_FORMAT_VERSION})"
        )
    nodes = [_saved_node(reader, item) for item in reader.value(manifest, "nodes", list)]
    names = [node.node for node in nodes]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise reader.error(f"nodes listed twice: {', '.join(repeated)}")
    return SavedRun(
        root,
        tuple(nodes),
        window_s=reader.value(manifest, "window_s", float),
        ctdiag_version=reader.value(manifest, "ctdiag_version", str),
        created_at=reader.timestamp(manifest, "created_at"),
    )


def _saved_node(reader: _RunReader, item: object) -> SavedNode:
    node = reader.value(item, "node", str)
    error = reader.optional(item, "error", str)
    if error is not None:
        return SavedNode(node, None, error=error)
    directory = reader.value(item, "directory", str)
    # The manifest is input: a directory name must never lead outside the run.
    if not DIRECTORY_NAME.fullmatch(directory):
        raise reader.error(f"node {node!r}: directory {directory!r} is not a plain name")
    before = reader.root / directory / BEFORE
    if not (before / MANIFEST).is_file():
        raise reader.error(f"node {node!r}: no snapshot in {directory}/{BEFORE}")
    after = reader.root / directory / AFTER if reader.value(item, "after", bool) else None
    return SavedNode(node, before, after)


def load_sample(saved: SavedNode) -> NodeSample:
    """Load one node's snapshots and check that they belong together.

    Raises:
        SnapshotError: a snapshot cannot be loaded, names another node, or the ``after``
            snapshot is not later; or the node's collection had failed when it was saved.
    """
    if saved.before is None:
        raise SnapshotError(f"{saved.error} (collection failed when this run was saved)")
    before = _load_of(saved.before, saved.node)
    if saved.after is None:
        return NodeSample(before)
    after = _load_of(saved.after, saved.node)
    try:
        Sample(before, after)
    except SnapshotError as exc:
        raise SnapshotError(f"snapshot {saved.after}: {exc}") from exc
    return NodeSample(before, after)


def _load_of(path: Path, node: str) -> Snapshot:
    snapshot = load(path)
    if snapshot.node != node:
        raise SnapshotError(
            f"snapshot {path}: {MANIFEST}: node {snapshot.node!r}, the run says {node!r}"
        )
    return snapshot


def load_samples(directory: str | os.PathLike[str]) -> list[NodeSample]:
    """Every collected node's sample saved in ``directory``, in the run's order.

    Nodes whose collection failed are left out (:func:`read_run` lists them).

    Raises:
        SnapshotError: one line naming the directory and the file at fault.
    """
    run = read_run(directory)
    return [load_sample(node) for node in run.nodes if node.before is not None]
