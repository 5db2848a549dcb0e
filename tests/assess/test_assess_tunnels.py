"""Overlay devices and their NOTRACK rules (ctdiag.assess.tunnels).

Links, iptables and nft outputs are real captures (``data/capture.py``); the Geneve links
are built from iproute2's printer because this kernel has no Geneve driver (README).
"""

from __future__ import annotations

import pytest

from ctdiag.assess import remedies
from ctdiag.assess.tunnels import Tunnel, find_tunnels, notrack_tunnels
from ctdiag.model.verdict import Level
from tests.assess.inputs import data

OVERLAYS = data("links-overlays.txt")
GENEVE = data("links-geneve.txt")
NOTRACK = data("iptables-save-raw-notrack.txt")
NEAR_MISSES = data("iptables-save-raw-near-misses.txt")
MULTIPORT = data("iptables-save-raw-multiport.txt")
NFT_GENEVE = data("nft-ruleset-geneve.txt")
NFT_SET = data("nft-ruleset-set.txt")
SOURCE = (
    "openshift-sdn OPENSHIFT-NOTRACK, OVN-Kubernetes Geneve 6081 (ctdiag/checks/README.md#tunnels)"
)

FLANNEL = Tunnel("flannel.1", "vxlan", 8472)
CALICO = Tunnel("vxlan.calico", "vxlan", 4789)
OVS_VXLAN = Tunnel("vxlan_sys_4789", "vxlan", 4789)
OVN = Tunnel("genev_sys_6081", "geneve", 6081)
GENEVE_7081 = Tunnel("geneve0", "geneve", 7081)


def test_find_tunnels_in_real_links() -> None:
    # flannel (dstport 8472), Calico (4789) and OVS's metadata-mode device ("external").
    assert find_tunnels(OVERLAYS) == (FLANNEL, CALICO, OVS_VXLAN)


def test_a_device_named_after_vxlan_is_not_a_tunnel() -> None:
    bridge = next(line for line in OVERLAYS.splitlines() if ": br-vxlan:" in line)
    assert "\\    bridge " in bridge
    assert find_tunnels(bridge) == ()
    veths = [line for line in OVERLAYS.splitlines() if "veth" in line]
    assert len(veths) == 2 and find_tunnels("\n".join(veths)) == ()


def test_find_tunnels_geneve() -> None:
    # "geneve external" prints no dstport: the default 6081 is what OVN uses.
    assert find_tunnels(GENEVE) == (OVN, GENEVE_7081)


def test_no_overlay_no_tunnel() -> None:
    assert find_tunnels(data("links-plain.txt")) == ()
    assert find_tunnels("") == ()


def test_iptables_notrack_and_ct_notrack_pass() -> None:
    verdict = notrack_tunnels(find_tunnels(OVERLAYS), iptables_raw=NOTRACK, nft_ruleset="")
    assert verdict.level is Level.PASS
    assert verdict.finding == (
        "every tunnel port is NOTRACKed in the raw table; overlay devices: flannel.1 (vxlan "
        "udp/8472), vxlan.calico (vxlan udp/4789), vxlan_sys_4789 (vxlan udp/4789)"
    )
    assert verdict.evidence == (
        "-A OPENSHIFT-NOTRACK -p udp -m udp --dport 4789 -j NOTRACK",
        "-A PREROUTING -p udp -m udp --dport 8472 -j CT --notrack",
    )
    assert verdict.evidence_total == 2
    assert verdict.threshold == "a NOTRACK rule for each overlay port"
    assert verdict.source == SOURCE
    assert verdict.remedy is None


def test_near_misses_fail_naming_the_ports() -> None:
    # ACCEPT, "! --dport 4789", tcp, port 47890 and CT --zone are not NOTRACK of udp/4789.
    verdict = notrack_tunnels(find_tunnels(OVERLAYS), iptables_raw=NEAR_MISSES, nft_ruleset="")
    assert verdict.level is Level.FAIL
    assert verdict.finding.startswith(
        "tunnel traffic is tracked: no raw-table NOTRACK for udp/4789, udp/8472; overlay devices: "
    )
    assert verdict.evidence == () and verdict.evidence_total == 0
    assert verdict.remedy is remedies.NOTRACK_TUNNELS
    message = verdict.message()
    assert f"remedy: {remedies.NOTRACK_TUNNELS.action}" in message
    assert f"trade-off: {remedies.NOTRACK_TUNNELS.trade_off}" in message


def test_only_the_missing_port_is_named() -> None:
    vxlan_only = "\n".join(line for line in NOTRACK.splitlines() if "8472" not in line)
    verdict = notrack_tunnels(find_tunnels(OVERLAYS), iptables_raw=vxlan_only, nft_ruleset="")
    assert verdict.level is Level.FAIL
    assert "no raw-table NOTRACK for udp/8472;" in verdict.finding
    assert "udp/4789," not in verdict.finding
    assert verdict.evidence == ("-A OPENSHIFT-NOTRACK -p udp -m udp --dport 4789 -j NOTRACK",)


def test_iptables_multiport() -> None:
    verdict = notrack_tunnels(find_tunnels(OVERLAYS), iptables_raw=MULTIPORT, nft_ruleset="")
    assert verdict.level is Level.PASS
    assert verdict.evidence == ("-A PREROUTING -p udp -m multiport --dports 4789,8472 -j NOTRACK",)


def test_nft_notrack_for_geneve() -> None:
    verdict = notrack_tunnels((OVN,), iptables_raw="", nft_ruleset=NFT_GENEVE)
    assert verdict.level is Level.PASS
    assert verdict.finding.endswith("overlay devices: genev_sys_6081 (geneve udp/6081)")
    assert verdict.evidence == ("udp dport 6081 notrack",)  # one line, though in two chains
    missing = notrack_tunnels(find_tunnels(GENEVE), iptables_raw=NOTRACK, nft_ruleset=NFT_GENEVE)
    assert missing.level is Level.FAIL
    assert "no raw-table NOTRACK for udp/7081;" in missing.finding


def test_nft_anonymous_set() -> None:
    verdict = notrack_tunnels(find_tunnels(OVERLAYS), iptables_raw="", nft_ruleset=NFT_SET)
    assert verdict.level is Level.PASS
    assert verdict.evidence == ("udp dport { 4789, 8472 } counter packets 0 bytes 0 notrack",)
    geneve = notrack_tunnels((OVN,), iptables_raw="", nft_ruleset=NFT_SET)
    assert geneve.level is Level.FAIL
    assert "no raw-table NOTRACK for udp/6081;" in geneve.finding


def test_iptables_nft_rules_listed_by_nft_count_too() -> None:
    # With the nf_tables backend, `nft list ruleset` shows iptables' rules as nft rules.
    listed = (
        "table ip raw {\n\tchain PREROUTING {\n"
        "\t\ttype filter hook prerouting priority raw; policy accept;\n"
        "\t\tudp dport 4789 counter packets 0 bytes 0 notrack\n\t}\n}\n"
    )
    verdict = notrack_tunnels((CALICO,), iptables_raw="", nft_ruleset=listed)
    assert verdict.level is Level.PASS


@pytest.mark.parametrize(
    "rule",
    [
        "udp dport 47890 notrack",
        "tcp dport 4789 notrack",
        "udp dport != 4789 notrack",
        "udp dport 4789 counter packets 0 bytes 0 accept",
        "udp sport 4789 notrack",
    ],
)
def test_nft_near_misses(rule: str) -> None:
    assert notrack_tunnels((CALICO,), iptables_raw="", nft_ruleset=f"\t\t{rule}\n").level is (
        Level.FAIL
    )
