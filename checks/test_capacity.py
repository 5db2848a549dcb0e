"""Is the table about to overflow, and is its hash sized for its limit? (checks guide: capacity)

The checks live in ``ctdiag/checks/test_capacity.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_capacity import test_hash_buckets, test_table_occupancy

__all__ = ["test_hash_buckets", "test_table_occupancy"]
