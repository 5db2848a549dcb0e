"""Are the conntrack sysctls what a Kubernetes node needs? (checks guide: tunables)"""

from __future__ import annotations

import pytest

from ctdiag.analyze.node_state import NodeState
from ctdiag.assess import tunables, tunnels
from ctdiag.checks import Judge
from ctdiag.model.outputs import OutputName


@pytest.mark.parametrize("sysctl", list(tunables.RULE_BY_NAME))
def test_tunables(sysctl: str, node_state: NodeState, judge: Judge) -> None:
    verdict = tunables.tunable(node_state.tunables, tunables.RULE_BY_NAME[sysctl])
    if verdict is None:
        pytest.skip(f"{sysctl} does not exist on this node's kernel")
    judge(verdict)


def test_bridge_nf_call_iptables(node_state: NodeState, judge: Judge) -> None:
    verdict = tunables.bridge_nf_call_iptables(node_state.tunables)
    if verdict is None:
        pytest.skip("br_netfilter is not loaded (no net.bridge.bridge-nf-call-iptables)")
    judge(verdict)


def test_notrack_tunnels(node_state: NodeState, judge: Judge) -> None:
    snapshot = node_state.snapshot
    found = tunnels.find_tunnels(snapshot.require(OutputName.LINKS).text)
    if not found:
        pytest.skip("no VXLAN or Geneve overlay device on this node")
    judge(tunnels.notrack_tunnels(
        found,
        iptables_raw=snapshot.require(OutputName.RULES_RAW).text,
        nft_ruleset=snapshot.text_if_ok(OutputName.NFT_RULESET),
    ))  # fmt: skip
