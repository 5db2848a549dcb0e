"""The report of a real network namespace with real flows, as users run it: ``pytest
--netns NAME --html ... --junitxml ...`` from the project root, then again with
``--redact``. The namespace (``ctdtest-report-PID``) is deleted whatever happens."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.report.report_file import EXTERNAL, addresses_in, all_text
from tests.report.synthetic_run import valid_summary

SETUP_TIMEOUT = 15.0
#: One TCP exchange over 10.77.0.1 (TIME_WAIT, ASSURED) and three unanswered UDP datagrams.
TRAFFIC = """
import socket, threading
server = socket.create_server(("10.77.0.1", 8080))
threading.Thread(target=lambda: server.accept()[0].recv(8), daemon=True).start()
with socket.create_connection(("10.77.0.1", 8080), timeout=5) as client:
    client.sendall(b"ping")
for address, family in (("10.77.0.1", socket.AF_INET), ("fd00:77::1", socket.AF_INET6),
                        ("127.0.0.1", socket.AF_INET)):
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"x", (address, 9999))
"""


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}: {done.stderr}"


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"ctdtest-report-{os.getpid()}"
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", name, "addr", "add", "10.77.0.1/32", "dev", "lo")
        _run("ip", "-n", name, "addr", "add", "fd00:77::1/128", "dev", "lo", "nodad")
        for tool in ("iptables", "ip6tables"):  # a conntrack match makes the netns track flows
            _run("ip", "netns", "exec", name, tool, "-A", "OUTPUT", "-m", "conntrack",
                 "--ctstate", "NEW,ESTABLISHED", "-j", "ACCEPT")  # fmt: skip
        _run("ip", "netns", "exec", name, sys.executable, "-c", TRAFFIC)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
        assert not (Path("/run/netns") / name).exists()


def _pytest(namespace: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--netns", namespace,
         "--sample-seconds", "0", f"--html={out}/report.html", "--self-contained-html",
         f"--junitxml={out}/junit.xml", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stdout and "INTERNALERROR" not in done.stdout, done.stdout
    return done


@pytest.mark.needs_root
def test_report_of_a_real_namespace_then_redacted(namespace: str, tmp_path: Path) -> None:
    plain, redacted = tmp_path / "plain", tmp_path / "redacted"
    done = _pytest(namespace, plain)
    assert f"ctdiag summary: {plain}/report.summary.json" in done.stdout
    document = (plain / "report.html").read_text()
    summary = valid_summary(plain / "report.summary.json")
    node = summary["nodes"][namespace]
    assert summary["verdict"] == node["level"] != "SKIP"
    assert node["status"] == "collected" and node["entry_source"] == "conntrack-cli"
    metrics = node["metrics"]
    assert metrics["node_nf_conntrack_entries"] >= 4
    assert metrics["node_nf_conntrack_entries_limit"] > 0
    assert "node_nf_conntrack_stat_insert_failed" in metrics
    assert metrics["ctdiag_nf_conntrack_unreplied_entries"] >= 3
    assert node["table"]["by_protocol"]["tcp"] >= 1
    assert {"10.77.0.1", "fd00:77::1"} <= {c["key"] for c in node["table"]["top_sources"]}
    assert node["checks"]["test_table_occupancy"]["level"] == "PASS"
    for text in (f"<h2>Node {namespace}</h2>", "top UNREPLIED destinations",
                 "[fd00:77::1]:9999/udp", "<code>conntrack -L -o extended</code>",
                 f"test_table_occupancy[{namespace}]"):  # fmt: skip
        assert text in document, text
    assert document.count('<svg class="ctdiag-chart"') >= 4
    assert not EXTERNAL.search(document)
    front = document[document.index('<section class="ctdiag-verdict') :]
    assert f">{node['level']}</span> 1 node checked: 1 {node['level']}</h2>" in front
    assert document.index('id="ctdiag-verdict"') < document.index('id="environment"')
    assert str(ROOT) not in all_text(document)

    _pytest(namespace, redacted, "--redact")
    leaked = addresses_in(all_text(document)) | {"10.77.0.1", "fd00:77::1", "127.0.0.1"}
    for name in ("report.html", "junit.xml", "report.summary.json"):
        text = (redacted / name).read_text()
        text = all_text(text) if name.endswith(".html") else text
        assert not addresses_in(text) & leaked, f"addresses left in {name}"
        assert not addresses_in(text), f"an address in {name}"
    assert valid_summary(redacted / "report.summary.json")["redacted"] is True
