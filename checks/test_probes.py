"""Can this node's table show what the checks claim to see? Probe self-tests (``--probe``).

The checks live in ``ctdiag/checks/test_probes.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_probes import test_probe_invalid_self_test, test_probe_unreplied_self_test

__all__ = ["test_probe_invalid_self_test", "test_probe_unreplied_self_test"]
