"""Are the conntrack sysctls what a Kubernetes node needs? (checks guide: tunables)

The checks live in ``ctdiag/checks/test_tunables.py`` (shipped with the package: ``pytest --pyargs
ctdiag.checks`` runs them from anywhere); this file lets ``pytest`` in a clone run them.
"""

from ctdiag.checks.test_tunables import (
    test_bridge_nf_call_iptables,
    test_notrack_tunnels,
    test_tunables,
)

__all__ = ["test_bridge_nf_call_iptables", "test_notrack_tunnels", "test_tunables"]
