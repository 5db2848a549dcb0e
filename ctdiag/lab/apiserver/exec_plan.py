"""What an exec does inside the lab's "container": run a program, answer like the runtime
(executable not found), or answer like ``chroot`` (program missing on the host).

Only ``argv[0]`` is checked against the image, and ``argv[2]`` after ``chroot /host``;
programs a script calls are looked up by the shell on the image's ``PATH``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ctdiag.lab.apiserver.cluster import LabApiNode
from ctdiag.lab.apiserver.images import HOST_PATH, ImageFilesystems, LabImage, resolve

#: Where debug pods mount the node's root filesystem.
HOST_MOUNT = "/host"


@dataclass(frozen=True, slots=True)
class ExecPlan:
    """The outcome decided before anything runs.

    Attributes:
        argv: what to run in the node's network namespace (``None``: nothing runs).
        search_path: ``PATH`` for it.
        stderr: what to write on stderr when nothing runs.
        exit_code: the exit status when nothing runs.
        runtime_error: the container runtime's refusal (InternalError), if any.
    """

    argv: tuple[str, ...] | None
    search_path: str = HOST_PATH
    stderr: bytes = b""
    exit_code: int = 0
    runtime_error: str | None = None


def not_found_message(program: str) -> str:
    """What CRI-O and containerd answer for a program missing from the image."""
    return (
        f'OCI runtime exec failed: exec failed: unable to start container process: exec: '
        f'"{program}": executable file not found in $PATH: unknown'
    )


def host_image(node: LabApiNode) -> LabImage:
    """The node's host filesystem, seen as an image lacking ``node.host_missing``."""
    return LabImage(f"host/{node.name}", node.host_missing)


def plan_exec(
    argv: tuple[str, ...], image: LabImage, node: LabApiNode, filesystems: ImageFilesystems
) -> ExecPlan:
    """Decide what ``argv`` does in a container of ``image`` on ``node``."""
    search_path = filesystems.search_path(image)
    program = argv[0]
    if resolve(program, search_path) is None:
        return ExecPlan(None, runtime_error=not_found_message(program))
    if os.path.basename(program) == "chroot" and len(argv) >= 2 and argv[1].rstrip("/") in {
        HOST_MOUNT
    }:
        host_argv = argv[2:] or ("sh", "-i")
        host_path = filesystems.search_path(host_image(node))
        target = host_argv[0]
        if os.path.basename(target) in node.host_missing or resolve(target, host_path) is None:
            message = f"chroot: failed to run command '{target}': No such file or directory\n"
            return ExecPlan(None, stderr=message.encode(), exit_code=127)
        return ExecPlan(host_argv, search_path=host_path)
    return ExecPlan(argv, search_path=search_path)
