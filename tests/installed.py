"""ctdiag installed as users install it: ``pip install <the repository>`` into a new venv.

The new venv sees the test venv's third-party packages through a ``.pth`` line (so the test
needs no download of numpy or kubernetes), but ctdiag itself is built and installed from the
repository as a regular (not editable) package, C extension, checks and guide included, and
is run from a directory outside the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tests.paths import ROOT

INSTALL_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class InstalledCtdiag:
    """A venv with ctdiag installed, and a working directory outside the repository."""

    python: Path
    workdir: Path

    def run(self, *argv: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            [str(self.python), *argv], cwd=self.workdir, env=env,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def install(base: Path) -> InstalledCtdiag:
    """A new venv under ``base`` with ctdiag installed from the repository."""
    venv = base / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)],
                   check=True, timeout=120, capture_output=True)  # fmt: skip
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    Path(purelib, "ctdiag-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workdir = base / "elsewhere"
    workdir.mkdir()
    return InstalledCtdiag(python, workdir)
