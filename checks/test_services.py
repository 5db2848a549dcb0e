"""Is Service traffic translated to live endpoints? (checks guide: services)

The checks live in ``ctdiag/checks/test_services.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_services import test_service_dnat, test_stale_dnat, test_unreplied_services

__all__ = ["test_service_dnat", "test_stale_dnat", "test_unreplied_services"]
