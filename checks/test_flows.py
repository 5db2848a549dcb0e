"""What fills the table: unanswered and half-open flows, and who owns it (checks guide: flows).

The checks live in ``ctdiag/checks/test_flows.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_flows import test_half_open, test_top_talkers, test_unreplied

__all__ = ["test_half_open", "test_top_talkers", "test_unreplied"]
