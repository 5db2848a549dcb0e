"""``pytest --netns NS --expect=FILE`` end to end against real DNAT rules and flows, then the
same verdicts offline from the saved run (``--snapshot``, which keeps the expected Services),
``--expect`` usage errors, and ``--probe`` with a file naming an address the namespace does
not route (refused, no packet) beside one it does (probed).

The scratch namespace translates Services kube-proxy style (iptables ``nat OUTPUT`` DNAT)
and its own UDP packets make the entries: one healthy Service, one whose flows are DNAT'd to
an address the file no longer lists (stale), one with no rule at all (missing DNAT).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collect.scratch_netns import ScratchNamespaces
from tests.plugin.test_snapshot_runs import _pytest, outcomes
from tests.udp_echo import UDP_ECHO

CHECKS = "checks/test_services.py::"
EXPECT = """\
services:
  - name: ok
    clusterIP: 10.96.0.30
    ports: [{port: 5000, protocol: UDP}]
    endpoints: [{ip: 10.244.1.31}]
  - name: dns
    namespace: kube-system
    clusterIP: 10.96.0.10
    ports: [{port: 53, protocol: UDP}]
    endpoints: [{ip: 10.244.1.22}]       # the rule still DNATs to .21: its entries are stale
  - name: web
    clusterIP: 10.96.0.20
    ports: [{port: 80, protocol: UDP, targetPort: 8080}]
    endpoints: [{ip: 10.244.1.11}]       # no rule: entries stay untranslated
"""
RULES = """\
*nat
:OUTPUT ACCEPT [0:0]
-A OUTPUT -d 10.96.0.30/32 -p udp --dport 5000 -j DNAT --to-destination 10.244.1.31:5000
-A OUTPUT -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 10.244.1.21:53
COMMIT
"""
SEND = """\
import socket
for dst, port, sport in (("10.96.0.30", 5000, 41000), ("10.96.0.10", 53, 41053),
                         ("10.96.0.10", 53, 41054), ("10.96.0.20", 80, 41080)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.sendto(b"x", (dst, port))
    s.close()
"""


@pytest.fixture(scope="module")
def services_netns() -> Iterator[str]:
    """A namespace whose table holds Service flows: translated, stale and untranslated."""
    ScratchNamespaces.sweep_abandoned()
    spaces = ScratchNamespaces()
    try:
        ns = spaces.create("svc")
        spaces.run("ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        spaces.run("ip", "-n", ns, "addr", "add", "10.244.1.1/24", "dev", "d0")
        spaces.run("ip", "-n", ns, "link", "set", "d0", "up")
        spaces.run("ip", "-n", ns, "link", "set", "d1", "up")
        spaces.run("ip", "-n", ns, "route", "add", "10.96.0.0/16", "dev", "d0")
        spaces.exec(ns, "sh", "-c", f"printf '%s' '{RULES}' | iptables-restore")
        spaces.exec(ns, "python3", "-c", SEND)
        yield ns
    finally:
        spaces.delete_all()


def _expect_file(tmp_path: Path) -> Path:
    path = tmp_path / "services.yaml"
    path.write_text(EXPECT)
    return path


@pytest.mark.needs_root
def test_expect_run_fails_exactly_the_stale_and_missing_ports_and_offline_agrees(
    tmp_path: Path, services_netns: str
) -> None:
    ns, expect = services_netns, _expect_file(tmp_path)
    saved = tmp_path / "run"
    done = _pytest("--netns", ns, f"--expect={expect}", "--sample-seconds", "0",
                   f"--save-snapshot={saved}", "-k", "test_services")  # fmt: skip
    found = outcomes(done)
    expected = {
        f"{CHECKS}{check}[{ns}-{port}]": "PASSED"
        for check in ("test_service_dnat", "test_stale_dnat", "test_unreplied_services")
        for port in ("default/ok:5000/udp", "kube-system/dns:53/udp", "default/web:80/udp")
    }
    expected[f"{CHECKS}test_stale_dnat[{ns}-kube-system/dns:53/udp]"] = "FAILED"
    expected[f"{CHECKS}test_service_dnat[{ns}-default/web:80/udp]"] = "FAILED"
    assert found == expected, done.stdout[-4000:]
    assert "2 UDP entries towards 10.96.0.10:53/udp are DNAT'd to 10.244.1.21 (2)" in done.stdout
    assert (
        "conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.21"
        in done.stdout
    )
    assert "1 of 1 entries are not translated" in done.stdout
    # The saved run keeps the Services it was judged against: offline, no --expect needed.
    assert (saved / "expected-services.json").is_file()
    offline = _pytest(f"--snapshot={saved}", "-k", "test_services")
    assert outcomes(offline) == found


@pytest.mark.needs_root
def test_without_expectations_the_service_checks_skip_saying_how(services_netns: str) -> None:
    done = _pytest("--netns", services_netns, "--sample-seconds", "0", "-k", "test_services",
                   "-rs")  # fmt: skip
    assert outcomes(done) == {
        f"{CHECKS}{check}[{services_netns}-no-services]": "SKIPPED"
        for check in ("test_service_dnat", "test_stale_dnat", "test_unreplied_services")
    }
    assert "no expected Services: give --expect FILE" in done.stdout


def test_an_unreachable_node_is_one_error_for_its_service_checks_too() -> None:
    done = _pytest("--netns", "ctdtest-does-not-exist", "-k", "test_services", "-rs")
    found = outcomes(done)
    assert sorted(found.values()) == ["ERROR", "SKIPPED", "SKIPPED"], done.stdout[-3000:]
    assert "not run: node ctdtest-does-not-exist could not be collected" in done.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--expect {path}: cannot read: "),
        ("services: [{name: x, clusterIP: 10.96.0.1, ports: [{port: 53, protocol: ICMP}]}]",
         "{path}: services[0].ports[0].protocol: must be TCP, UDP or SCTP, got 'ICMP'"),
    ],
    ids=["absent", "invalid"],
)  # fmt: skip
def test_a_bad_expect_file_is_a_one_line_usage_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "services.yaml"
    if content is not None:
        path.write_text(content)
    done = _pytest("--local", f"--expect={path}")
    assert done.returncode == 4, done.stdout + done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(error) == 1 and error[0].startswith(f"ERROR: {message.format(path=path)}"), error


PROBE_EXPECT = """\
services:
  - name: web                          # the node's neighbour on its uplink: no Service
    clusterIP: 198.18.0.100
    ports: [{port: 80}]
    endpoints: [{ip: 198.18.0.100, port: 80}]
  - name: ok
    clusterIP: 10.96.0.30
    ports: [{port: 5000, protocol: UDP}]
    endpoints: [{ip: 10.244.1.31}]
"""
PROBE_RULES = """\
*raw
:OUTPUT ACCEPT [0:0]
-A OUTPUT -d 198.18.0.100/32
-A OUTPUT -d 10.96.0.30/32
COMMIT
*nat
:OUTPUT ACCEPT [0:0]
-A OUTPUT -d 10.96.0.30/32 -p udp --dport 5000 -j DNAT --to-destination 10.244.1.31:5000
COMMIT
"""


def _wait_listening(spaces: ScratchNamespaces, namespace: str, where: str) -> None:
    deadline = time.monotonic() + 10
    while where not in spaces.exec(namespace, "ss", "-Hlnu"):
        assert time.monotonic() < deadline, f"nothing listens on udp {where} in {namespace}"
        time.sleep(0.1)


@pytest.fixture
def probe_netns() -> Iterator[str]:
    """A node namespace with a pod (10.244.1.31, answering UDP 5000, routed with a /32 on
    its link) behind the Service 10.96.0.30, and a neighbour 198.18.0.100 on its uplink."""
    ScratchNamespaces.sweep_abandoned()
    spaces = ScratchNamespaces()
    echo: subprocess.Popen[bytes] | None = None
    try:
        node, pod, ext = spaces.create("prb"), spaces.create("prbpod"), spaces.create("prbext")
        for here, link, there, peer in ((node, "npod", pod, "p0"), (node, "nup", ext, "e0")):
            spaces.run("ip", "-n", here, "link", "add", link, "type", "veth", "peer", "name",
                       peer, "netns", there)  # fmt: skip
            spaces.run("ip", "-n", here, "link", "set", link, "up")
            spaces.run("ip", "-n", there, "link", "set", peer, "up")
        spaces.run("ip", "-n", node, "addr", "add", "10.244.1.1/32", "dev", "npod")
        spaces.run("ip", "-n", node, "route", "add", "10.244.1.31/32", "dev", "npod",
                   "scope", "link")  # fmt: skip
        spaces.run("ip", "-n", pod, "addr", "add", "10.244.1.31/32", "dev", "p0")
        spaces.run("ip", "-n", pod, "route", "add", "10.244.1.1", "dev", "p0", "scope", "link")
        spaces.run("ip", "-n", pod, "route", "add", "default", "via", "10.244.1.1")
        spaces.run("ip", "-n", node, "addr", "add", "198.18.0.11/24", "dev", "nup")
        spaces.run("ip", "-n", ext, "addr", "add", "198.18.0.100/24", "dev", "e0")
        spaces.run("ip", "-n", node, "route", "add", "10.96.0.0/16", "via", "198.18.0.100")
        spaces.exec(node, "sh", "-c", f"printf '%s' '{PROBE_RULES}' | iptables-restore")
        echo = subprocess.Popen(["ip", "netns", "exec", pod, "python3", "-c", UDP_ECHO,
                                 "10.244.1.31", "5000"])  # fmt: skip
        _wait_listening(spaces, pod, "10.244.1.31:5000")
        yield node
    finally:
        if echo is not None:
            echo.kill()
            echo.wait(10)
        spaces.delete_all()


def _sent_to(namespace: str, address: str) -> int:
    """Packets the raw OUTPUT counting rule for ``address`` has seen in ``namespace``."""
    saved = subprocess.run(["ip", "netns", "exec", namespace, "iptables-save", "-c", "-t", "raw"],
                           capture_output=True, text=True, timeout=15, check=True).stdout
    match = re.search(rf"^\[(\d+):\d+\] -A OUTPUT -d {re.escape(address)}/32$", saved, re.M)
    assert match, saved
    return int(match[1])


@pytest.mark.needs_root
def test_probe_refuses_an_address_the_node_does_not_route_and_probes_the_one_it_does(
    tmp_path: Path, probe_netns: str
) -> None:
    ns = probe_netns
    expect = tmp_path / "services.yaml"
    expect.write_text(PROBE_EXPECT)
    done = _pytest("--netns", ns, f"--expect={expect}", "--probe", "--sample-seconds", "0",
                   "-k", "test_service_dnat or test_probe_")  # fmt: skip
    assert outcomes(done) == {
        f"{CHECKS}test_service_dnat[{ns}-default/web:80/tcp]": "FAILED",
        f"{CHECKS}test_service_dnat[{ns}-default/ok:5000/udp]": "PASSED",
        f"checks/test_probes.py::test_probe_invalid_self_test[{ns}]": "PASSED",
        f"checks/test_probes.py::test_probe_unreplied_self_test[{ns}]": "PASSED",
    }, done.stdout[-4000:]
    line = ("probe of default/web:80/tcp refused: 198.18.0.100 is neither a Service address "
            "nor a pod address this node routes")  # fmt: skip
    assert line in done.stdout and "Traceback" not in done.stdout
    # No packet: the counter of the refused address stayed at 0, the probed one's did not,
    # and the node's table holds nothing towards the refused address.
    assert _sent_to(ns, "198.18.0.100") == 0
    assert _sent_to(ns, "10.96.0.30") >= 1
    table = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/nf_conntrack"],
                           capture_output=True, text=True, timeout=15, check=True).stdout
    assert "dst=198.18.0.100 " not in table, table
