"""The lab's image catalogue: which images pull, and which programs each one lacks.

A container's programs are this machine's, minus what its image lacks. Exec resolves
``argv[0]`` on a per-image ``PATH``: a directory of symlinks to every program of the host's
``PATH`` except the missing ones, so that a shell inside the "container" does not find them
either (``command -v conntrack`` fails in support-tools, as it does on a real node).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

#: The host search path programs are taken from (and a container's default PATH).
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class LabImage:
    """An image the lab can "pull".

    Attributes:
        repository: registry and repository, without tag or digest.
        missing: programs the image does not ship.
    """

    repository: str
    missing: frozenset[str] = frozenset()


CATALOGUE: tuple[LabImage, ...] = (
    LabImage("registry.redhat.io/rhel9/support-tools", frozenset({"conntrack"})),
    LabImage("docker.io/nicolaka/netshoot"),
    LabImage(
        "ctdiag.lab/minimal",
        frozenset({"conntrack", "gzip", "iptables-save", "ip6tables-save", "nft", "python3"}),
    ),
    # A distroless-like image: no shell at all, so nothing can be bundled or gzipped in it.
    LabImage("ctdiag.lab/no-shell", frozenset({"sh", "dash", "bash", "gzip", "python3"})),
)


def repository_of(image: str) -> str:
    """``image`` without tag or digest, with Docker Hub's implicit registry spelled out."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name


def find_image(image: str) -> LabImage | None:
    """The catalogue entry ``image`` names (any tag), or ``None``: it fails to pull."""
    repository = repository_of(image)
    return next((i for i in CATALOGUE if i.repository == repository), None)


def image_id(image: str) -> str:
    """A stable ``repo@sha256:...`` image ID, as the kubelet reports it."""
    digest = hashlib.sha256(repository_of(image).encode()).hexdigest()
    return f"{repository_of(image)}@sha256:{digest}"


def pull_error(image: str) -> str:
    """The kubelet's ErrImagePull message for an image the registry does not have."""
    return (
        f'Failed to pull image "{image}": rpc error: code = Unknown desc = reading manifest '
        f"in {repository_of(image)}: manifest unknown: image not found"
    )


class ImageFilesystems:
    """Per-image ``PATH`` directories, made on first use under ``root``."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._paths: dict[str, str] = {}

    def search_path(self, image: LabImage) -> str:
        """The ``PATH`` a container of ``image`` has."""
        if not image.missing:
            return HOST_PATH
        if image.repository not in self._paths:
            self._paths[image.repository] = str(self._build(image))
        return self._paths[image.repository]

    def _build(self, image: LabImage) -> Path:
        target = self._root / hashlib.sha256(image.repository.encode()).hexdigest()[:16]
        target.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        for directory in HOST_PATH.split(":"):
            real = os.path.realpath(directory)
            if real in seen:  # /sbin -> usr/sbin on merged-/usr systems
                continue
            seen.add(real)
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                if entry.name in image.missing:
                    continue
                # Link the entry, not its target, so argv[0] names (multi-call binaries)
                # survive; the first PATH directory holding a name wins, as in a lookup.
                with contextlib.suppress(FileExistsError):
                    os.symlink(entry.path, target / entry.name)
        return target


def resolve(program: str, search_path: str) -> str | None:
    """``program`` found on ``search_path`` (or as a path), as an absolute path."""
    if "/" in program:
        return program if os.access(program, os.X_OK) and os.path.isfile(program) else None
    return shutil.which(program, path=search_path)
