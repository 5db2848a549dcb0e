"""Did the kernel drop new flows because the table was full? (checks guide: capacity)

The checks live in ``ctdiag/checks/test_kernel_log.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_kernel_log import test_kernel_log_table_full

__all__ = ["test_kernel_log_table_full"]
