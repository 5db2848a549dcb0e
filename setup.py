"""Build the optional C accelerator ``ctdiag.parse._fastparse``.

Everything else is declared in pyproject.toml. The extension is optional: when it does not
compile (no compiler, no Python headers), the install still succeeds with a warning and
``ctdiag.parse.fast.AVAILABLE`` is False, so the pure-Python parser handles every line.
"""

from __future__ import annotations

import sys
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed compile into a warning instead of a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any build failure must stay non-fatal
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc, ext.name)

    @staticmethod
    def _warn(exc: BaseException, name: str = "ctdiag.parse._fastparse") -> None:
        message = (
            f"WARNING: could not build the optional C extension {name} ({exc!r}); "
            "ctdiag will use the slower pure-Python parser."
        )
        warnings.warn(message, stacklevel=1)
        print(message, file=sys.stderr)


extra_compile_args = (
    []
    if sys.platform == "win32"
    else ["-O3", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"]
)

setup(
    ext_modules=[
        Extension(
            "ctdiag.parse._fastparse",
            sources=["ctdiag/parse/_fastparse.c"],
            extra_compile_args=extra_compile_args,
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
