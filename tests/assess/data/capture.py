"""Capture the real outputs the judgement tests read, inside a throw-away network namespace.

Run as root from the repository root: ``.venv/bin/python tests/assess/data/capture.py``.
It creates the namespace ``ctdtest-assess-capture`` and deletes it in a ``finally`` block,
whatever fails (``--down`` only deletes a leftover). README.md beside this file says what each
file holds and what was captured how.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NETNS = "ctdtest-assess-capture"
HERE = Path(__file__).resolve().parent
SYSCTL_KEYS = (
    "net.netfilter",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.vs.conntrack",
)
#: Overlay devices as the CNIs create them (flannel, Calico, openshift-sdn/OVS), a bridge
#: whose name merely mentions VXLAN, and a veth pair.
LINKS = (
    "ip link add flannel.1 type vxlan id 1 local 127.0.0.1 dev lo dstport 8472 nolearning",
    "ip link add vxlan.calico type vxlan id 4096 local 127.0.0.1 dev lo dstport 4789 nolearning",
    "ip link add vxlan_sys_4789 type vxlan external dstport 4789",
    "ip link add br-vxlan type bridge",
    "ip link add veth-node type veth peer name veth-pod",
)
#: openshift-sdn style (a NOTRACK chain jumped to from PREROUTING and OUTPUT) for 4789,
#: the CT target for 8472, and near misses that must not count.
IPTABLES_NOTRACK = (
    "iptables -t raw -N OPENSHIFT-NOTRACK",
    "iptables -t raw -A PREROUTING -j OPENSHIFT-NOTRACK",
    "iptables -t raw -A OUTPUT -j OPENSHIFT-NOTRACK",
    "iptables -t raw -A OPENSHIFT-NOTRACK -p udp -m udp --dport 4789 -j NOTRACK",
    "iptables -t raw -A PREROUTING -p udp -m udp --dport 8472 -j CT --notrack",
)
IPTABLES_NEAR_MISSES = (
    "iptables -t raw -A PREROUTING -p udp -m udp --dport 4789 -j ACCEPT",
    "iptables -t raw -A PREROUTING -p udp -m udp ! --dport 4789 -j NOTRACK",
    "iptables -t raw -A PREROUTING -p tcp -m tcp --dport 4789 -j NOTRACK",
    "iptables -t raw -A PREROUTING -p udp -m udp --dport 47890 -j NOTRACK",
    "iptables -t raw -A PREROUTING -p udp -m udp --dport 8472 -j CT --zone 5",
)
IPTABLES_MULTIPORT = (
    "iptables -t raw -A PREROUTING -p udp -m multiport --dports 4789,8472 -j NOTRACK",
)
NFT_NOTRACK = (
    "nft add table inet ovn_notrack",
    "nft add chain inet ovn_notrack prerouting "
    "{ type filter hook prerouting priority raw ; policy accept ; }",
    "nft add chain inet ovn_notrack output "
    "{ type filter hook output priority raw ; policy accept ; }",
    "nft add rule inet ovn_notrack prerouting udp dport 6081 notrack",
    "nft add rule inet ovn_notrack output udp dport 6081 notrack",
)
NFT_SET_NOTRACK = (
    "nft add table inet overlay",
    "nft add chain inet overlay prerouting "
    "{ type filter hook prerouting priority raw ; policy accept ; }",
    "nft add rule inet overlay prerouting udp dport { 4789, 8472 } counter notrack",
)
#: kube-proxy's values, then the first value past each boundary.
KUBE_PROXY_SYSCTLS = {
    "net.netfilter.nf_conntrack_tcp_timeout_established": "86400",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait": "3600",
}
MISCONFIGURED_SYSCTLS = {
    "net.netfilter.nf_conntrack_tcp_timeout_established": "86401",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait": "3599",
    "net.netfilter.nf_conntrack_tcp_loose": "0",
    "net.netfilter.nf_conntrack_tcp_be_liberal": "1",
    "net.bridge.bridge-nf-call-iptables": "0",
}


def in_netns(command: str | list[str]) -> str:
    """stdout of ``command`` run in the namespace (a string is split on blanks, except for
    nft, whose braces and semicolons are passed as one argument it parses itself)."""
    if isinstance(command, list):
        argv = command
    elif command.startswith("nft "):
        argv = ["nft", command.removeprefix("nft ")]
    else:
        argv = command.split()
    result = subprocess.run(
        ["ip", "netns", "exec", NETNS, *argv], check=True, text=True, capture_output=True,
        timeout=30,
    )  # fmt: skip
    return result.stdout


def write(name: str, text: str) -> None:
    (HERE / name).write_text(text)
    print(f"wrote {name} ({len(text.splitlines())} lines)")


def set_sysctls(values: dict[str, str]) -> None:
    for key, value in values.items():
        in_netns(["sysctl", "-q", "-w", f"{key}={value}"])


def capture_namespace() -> None:
    in_netns("ip link set lo up")
    write("links-plain.txt", in_netns("ip -d -o link show"))
    for command in LINKS:
        in_netns(command)
    write("links-overlays.txt", in_netns("ip -d -o link show"))
    write("sysctl-defaults.txt", in_netns(["sysctl", "-e", *SYSCTL_KEYS]))
    set_sysctls(KUBE_PROXY_SYSCTLS)
    write("sysctl-kube-proxy.txt", in_netns(["sysctl", "-e", *SYSCTL_KEYS]))
    set_sysctls(MISCONFIGURED_SYSCTLS)
    write("sysctl-misconfigured.txt", in_netns(["sysctl", "-e", *SYSCTL_KEYS]))
    for command in IPTABLES_NEAR_MISSES:
        in_netns(command)
    write("iptables-save-raw-near-misses.txt", in_netns("iptables-save -t raw"))
    for command in IPTABLES_NOTRACK:
        in_netns(command)
    write("iptables-save-raw-notrack.txt", in_netns("iptables-save -t raw"))
    in_netns("iptables -t raw -F")
    for command in IPTABLES_MULTIPORT:
        in_netns(command)
    write("iptables-save-raw-multiport.txt", in_netns("iptables-save -t raw"))
    # The iptables-nft rules show up in the nft listing too; list only what nft adds.
    in_netns("iptables -t raw -F")
    in_netns("iptables -t raw -X")
    in_netns("nft flush ruleset")
    for command in NFT_NOTRACK:
        in_netns(command)
    write("nft-ruleset-geneve.txt", in_netns("nft list ruleset"))
    in_netns("nft flush ruleset")
    for command in NFT_SET_NOTRACK:
        in_netns(command)
    write("nft-ruleset-set.txt", in_netns("nft list ruleset"))


def capture_kernel_log() -> None:
    """An excerpt of this host's real dmesg around its "table full" bursts, and the uptime.

    The bursts were logged by other namespaces on the host (lab runs); kept as they are.
    """
    lines = subprocess.run(["dmesg"], check=True, text=True, capture_output=True).stdout
    lines_list = lines.splitlines()
    full = [i for i, line in enumerate(lines_list) if "table full" in line]
    if not full:
        print("no 'table full' line in dmesg: kernel log files left as they are")
        return
    notes = [i for i, line in enumerate(lines_list) if "callbacks suppressed" in line]
    # Some context before the first burst, the first three bursts, and the last burst.
    end_of_third = notes[2] + 11 if len(notes) > 2 else full[-1] + 1
    last_burst = notes[-1] if notes and notes[-1] > end_of_third else end_of_third
    picked = lines_list[max(0, full[0] - 2) : end_of_third] + lines_list[last_burst : full[-1] + 1]
    write("dmesg-table-full.txt", "\n".join(picked) + "\n")
    write("proc-uptime.txt", Path("/proc/uptime").read_text())


def down() -> None:
    subprocess.run(["ip", "netns", "del", NETNS], check=False, capture_output=True)


def main() -> None:
    if "--down" in sys.argv[1:]:
        down()
        return
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        capture_namespace()
    finally:
        down()
    capture_kernel_log()
    versions = {
        "uname -r": subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout,
        "ip -V": subprocess.run(["ip", "-V"], capture_output=True, text=True).stdout,
        "iptables --version": subprocess.run(
            ["iptables", "--version"], capture_output=True, text=True
        ).stdout,
        "nft --version": subprocess.run(
            ["nft", "--version"], capture_output=True, text=True
        ).stdout,
    }
    write("versions.txt", "".join(f"{k}: {v.strip()}\n" for k, v in versions.items()))


if __name__ == "__main__":
    main()
