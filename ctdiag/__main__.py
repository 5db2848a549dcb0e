"""``python -m ctdiag``: see :mod:`ctdiag.cli.main`."""

from __future__ import annotations

import sys

from ctdiag.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
