"""The diagnostic checks users run: ``pytest --node NAME`` (or ``--lab``, ``--local``,
``--netns NAME``). The checks guide, ``README.md`` beside this file, says what each judges,
why, and where its thresholds come from.

Each check is thin: it takes a node's parsed state (``node_state``), asks a judgement
in :mod:`ctdiag.assess` and hands the verdict to ``judge``.
"""

from __future__ import annotations

from collections.abc import Callable

from ctdiag.model.verdict import Verdict

#: The ``judge`` fixture's type: records the verdict, fails the test on FAIL.
Judge = Callable[[Verdict], Verdict]
