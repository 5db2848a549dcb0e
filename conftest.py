"""Root pytest configuration: wires the fixture modules of ``fixtures/`` into every run.

Kept thin on purpose: options, hooks and fixtures live in ``fixtures/`` modules, the
diagnostic checks in ``checks/``, the project's own tests in ``tests/``.
"""

from __future__ import annotations

pytest_plugins = [
    "fixtures.ci_policy",
    "fixtures.cluster",
    "fixtures.nodes",
    "fixtures.services",
    "fixtures.snapshots",
    "fixtures.probes",
    "fixtures.verdicts",
    "fixtures.report",
]
