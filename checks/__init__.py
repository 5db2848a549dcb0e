"""The diagnostic checks, as ``pytest`` in a clone collects them: each module names the
checks of one theme, defined in :mod:`ctdiag.checks`."""
