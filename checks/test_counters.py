"""Is conntrack dropping flows or seeing INVALID packets right now? (checks guide)

The checks live in ``ctdiag/checks/test_counters.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_counters import test_invalid_rate, test_no_drops

__all__ = ["test_invalid_rate", "test_no_drops"]
