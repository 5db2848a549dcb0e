"""Files of the snapshot directory format: stream files and typed manifest access.

Kept apart from :mod:`ctdiag.model.outputs` so the data model stays readable; nothing here knows
what a snapshot means, only how its bytes and manifest fields are stored
(``docs/snapshot-format.md``).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar

from ctdiag.errors import SnapshotError

_T = TypeVar("_T")
_CHUNK = 1 << 20


def save_stream(root: Path, relative: str, data: bytes, threshold: int) -> dict[str, object]:
    """Write one stream under ``root``; return its manifest record (file, size, digest).

    Streams of at least ``threshold`` bytes are gzip-compressed, written in chunks so that
    a 200 MB listing is not copied whole once more.
    """
    compressed = len(data) >= threshold
    if compressed:
        relative += ".gz"
        # mtime=0 keeps the file identical for identical content (diffable, dedupable).
        with (
            open(root / relative, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream,
        ):
            view = memoryview(data)
            for start in range(0, len(data), _CHUNK):
                stream.write(view[start : start + _CHUNK])
    else:
        (root / relative).write_bytes(data)
    return {
        "file": relative,
        "compression": "gzip" if compressed else "none",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


class ManifestReader:
    """Typed access to the decoded manifest; every failure names the directory and file."""

    def __init__(self, root: Path, file: str) -> None:
        self.root = root
        self.file = file

    def error(self, reason: str, file: str | None = None) -> SnapshotError:
        """The error to raise, naming the directory and ``file`` (default: the manifest)."""
        return SnapshotError(f"snapshot {self.root}: {file or self.file}: {reason}")

    def value(self, obj: object, key: str, kind: type[_T]) -> _T:
        """``obj[key]``, which must exist and be a ``kind``."""
        if not isinstance(obj, dict) or key not in obj:
            raise self.error(f"{key!r} missing")
        value = obj[key]
        # JSON integers are acceptable where a float is expected; booleans never are.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.error(f"{key!r} is not a {kind.__name__}: {value!r}")
        return value

    def optional(self, obj: object, key: str, kind: type[_T]) -> _T | None:
        """``obj[key]`` as a ``kind``, or ``None`` when absent or null."""
        if isinstance(obj, dict) and obj.get(key) is None:
            return None
        return self.value(obj, key, kind)

    def timestamp(self, obj: object, key: str) -> datetime:
        """``obj[key]`` parsed as an ISO 8601 time."""
        text = self.value(obj, key, str)
        try:
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise self.error(f"{key!r} is not an ISO 8601 time: {text!r}") from exc


def load_stream(reader: ManifestReader, record: dict[str, object]) -> bytes:
    """Read the stream a manifest record describes, checking its size and sha256."""
    relative = reader.value(record, "file", str)
    compression = reader.value(record, "compression", str)
    parts = PurePosixPath(relative).parts
    # The manifest is input: never let it point outside the snapshot directory.
    if PurePosixPath(relative).is_absolute() or ".." in parts or not parts:
        raise reader.error(f"file {relative!r} is outside the snapshot")
    if compression not in ("gzip", "none"):
        raise reader.error(f"unknown compression {compression!r}", relative)
    try:
        if compression == "gzip":
            with gzip.open(reader.root / relative, "rb") as stream:
                data = stream.read()
        else:
            data = (reader.root / relative).read_bytes()
    except FileNotFoundError as exc:
        raise reader.error("missing", relative) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise reader.error(f"unreadable ({exc})", relative) from exc
    if len(data) != reader.value(record, "size", int):
        raise reader.error(f"holds {len(data)} bytes, manifest says {record['size']}", relative)
    if hashlib.sha256(data).hexdigest() != reader.value(record, "sha256", str):
        raise reader.error("content does not match its sha256 in the manifest", relative)
    return data
