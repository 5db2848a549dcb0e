"""The snapshot directory: one node's raw outputs saved and reloaded.

The directory layout is documented in ``docs/snapshot-format.md``; this module is the only
code that reads or writes it (stream files through :mod:`ctdiag.collect.store.files`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ctdiag.collect.store.files import ManifestReader, load_stream, save_stream
from ctdiag.errors import SnapshotError
from ctdiag.model.outputs import CommandOutput, EntrySource, Snapshot

FORMAT_NAME = "ctdiag-snapshot"
#: Bump on any change a reader of the previous version would misread.
FORMAT_VERSION = 1
MANIFEST = "snapshot.json"
#: Streams at least this large are gzip-compressed on save (a 1M-flow listing is ~200 MB).
COMPRESS_THRESHOLD = 1 << 20


def save(
    snapshot: Snapshot,
    directory: str | os.PathLike[str],
    *,
    compress_threshold: int = COMPRESS_THRESHOLD,
) -> Path:
    """Write ``snapshot`` into ``directory`` (created if needed) in the documented layout.

    The manifest is written last, through a rename, so an interrupted save leaves a
    directory that :func:`load` rejects instead of a snapshot with missing outputs.

    Args:
        snapshot: what to save.
        directory: target directory; must not already hold a ``snapshot.json``.
        compress_threshold: streams of at least this many bytes are gzip-compressed.

    Returns:
        The directory, as a ``Path``.

    Raises:
        SnapshotError: the directory already holds a snapshot, or a file cannot be written.
    """
    root = Path(directory)
    if (root / MANIFEST).exists():
        raise SnapshotError(f"snapshot {root}: {MANIFEST} already exists, not overwriting")
    try:
        (root / "outputs").mkdir(parents=True, exist_ok=True)
        outputs = [_save_output(root, output, compress_threshold) for output in snapshot.outputs]
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "node": snapshot.node,
            "kernel_release": snapshot.kernel_release,
            "conntrack_version": snapshot.conntrack_version,
            "collected_at": snapshot.collected_at.isoformat(),
            "ctdiag_version": snapshot.ctdiag_version,
            "entry_source": snapshot.entry_source.value,
            "outputs": outputs,
        }
        temporary = root / (MANIFEST + ".tmp")
        temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, root / MANIFEST)
    except OSError as exc:
        raise SnapshotError(
            f"snapshot {root}: cannot write {exc.filename}: {exc.strerror}"
        ) from exc
    return root


def _save_output(root: Path, output: CommandOutput, threshold: int) -> dict[str, object]:
    return {
        "name": output.name,
        "argv": list(output.argv),
        "exit_status": output.exit_status,
        "started_at": output.started_at.isoformat(),
        "duration_s": output.duration_s,
        "stdout": save_stream(root, f"outputs/{output.name}.stdout", output.stdout, threshold),
        "stderr": save_stream(root, f"outputs/{output.name}.stderr", output.stderr, threshold),
    }


def load(directory: str | os.PathLike[str]) -> Snapshot:
    """Read a snapshot saved by :func:`save`, decompressing streams and checking digests.

    Raises:
        SnapshotError: one line naming the directory and the file at fault: missing
            manifest or stream file, unknown format or version, malformed manifest,
            corrupt gzip data, or content not matching its recorded size/digest.
    """
    root = Path(directory)
    reader = ManifestReader(root, MANIFEST)
    try:
        text = (root / MANIFEST).read_text(encoding="utf-8")
    except OSError as exc:
        raise reader.error(exc.strerror or "cannot be read") from exc
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise reader.error(f"not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise reader.error(f"not a {FORMAT_NAME} manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise reader.error(
            f"unknown format version {version!r} (this ctdiag reads {FORMAT_VERSION})"
        )
    outputs = reader.value(manifest, "outputs", list)
    try:
        source = EntrySource(reader.value(manifest, "entry_source", str))
        return Snapshot(
            node=reader.value(manifest, "node", str),
            kernel_release=reader.value(manifest, "kernel_release", str),
            conntrack_version=reader.optional(manifest, "conntrack_version", str),
            collected_at=reader.timestamp(manifest, "collected_at"),
            entry_source=source,
            outputs=tuple(_load_output(reader, item) for item in outputs),
            ctdiag_version=reader.value(manifest, "ctdiag_version", str),
        )
    except ValueError as exc:
        raise reader.error(str(exc)) from exc


def _load_output(reader: ManifestReader, item: object) -> CommandOutput:
    argv = reader.value(item, "argv", list)
    if not all(isinstance(arg, str) for arg in argv):
        raise reader.error(f"argv holds a non-string: {argv!r}")
    return CommandOutput(
        name=reader.value(item, "name", str),
        argv=tuple(argv),
        exit_status=reader.value(item, "exit_status", int),
        stdout=load_stream(reader, reader.value(item, "stdout", dict)),
        stderr=load_stream(reader, reader.value(item, "stderr", dict)),
        started_at=reader.timestamp(item, "started_at"),
        duration_s=reader.value(item, "duration_s", float),
    )
