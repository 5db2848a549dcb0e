"""``pytest --netns NS --expect=FILE`` end to end against real DNAT rules and flows, then the
same verdicts offline from the saved run (``--snapshot``, which keeps the expected Services),
and ``--expect`` usage errors.

The scratch namespace translates Services kube-proxy style (iptables ``nat OUTPUT`` DNAT)
and its own UDP packets make the entries: one healthy Service, one whose flows are DNAT'd to
an address the file no longer lists (stale), one with no rule at all (missing DNAT).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collect.scratch_netns import ScratchNamespaces
from tests.plugin.test_snapshot_runs import _pytest, outcomes

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
