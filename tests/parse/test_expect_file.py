"""The ``--expect FILE`` schema (ctdiag.parse.expect_file): defaults, and one line per error."""

from __future__ import annotations

import textwrap

import pytest

from ctdiag.errors import ExpectationError
from ctdiag.model.services import ServiceEndpoint, ServiceProtocol
from ctdiag.parse.expect_file import load_expectations

FULL = """\
services:
  - name: kube-dns
    namespace: kube-system
    clusterIPs: [10.96.0.10, "FD00:10:96:0::a"]
    externalIPs: [192.0.2.10]
    ports:
      - {port: 53, protocol: udp, name: dns}
      - {port: 53, protocol: TCP, targetPort: 5353, name: dns-tcp}
      - {port: 9153, targetPort: metrics, name: metrics}
    endpoints:
      - {ip: 10.244.1.21, port: 53, pod: coredns-a, node: worker-1}
      - {ip: 10.244.1.21, port: 5353, pod: coredns-a}
      - {ip: 10.244.1.22, port: 53, ready: false, serving: true}
  - name: web
    clusterIP: 10.96.0.20
    ports:
      - {port: 80, targetPort: 8080, nodePort: 30080}
    endpoints:
      - ip: 10.244.1.11
      - {ip: 10.244.1.12, ready: false}
"""


def test_full_document() -> None:
    dns, web = load_expectations(FULL, "expect.yaml")
    assert (dns.namespace, dns.name) == ("kube-system", "kube-dns")
    assert dns.cluster_ips == ("10.96.0.10", "fd00:10:96::a")
    assert dns.external_ips == ("192.0.2.10",)
    udp, tcp, metrics = dns.ports
    assert (udp.protocol, udp.target_port, udp.name) == (ServiceProtocol.UDP, 53, "dns")
    # An endpoint with a port serves the ports with that numeric targetPort, and named ones.
    assert udp.endpoints == (
        ServiceEndpoint("10.244.1.21", 53, True, True, "coredns-a", "worker-1"),
        ServiceEndpoint("10.244.1.22", 53, False, True),
    )
    assert tcp.endpoints == (ServiceEndpoint("10.244.1.21", 5353, pod="coredns-a"),)
    assert metrics.target_port == "metrics"
    assert [str(e) for e in metrics.endpoints] == ["10.244.1.21:53", "10.244.1.21:5353",
                                                   "10.244.1.22:53"]  # fmt: skip
    assert [p.id for p in dns.expected_ports()] == [
        "kube-system/kube-dns:53/udp", "kube-system/kube-dns:53/tcp",
        "kube-system/kube-dns:9153/tcp",
    ]  # fmt: skip
    # Defaults: namespace default, protocol TCP, endpoint port = targetPort, ready true,
    # serving = ready.
    assert web.namespace == "default"
    (http,) = web.ports
    assert (http.protocol, http.target_port, http.node_port, http.name) == (
        ServiceProtocol.TCP, 8080, 30080, "",
    )  # fmt: skip
    assert http.endpoints == (
        ServiceEndpoint("10.244.1.11", 8080, True, True),
        ServiceEndpoint("10.244.1.12", 8080, False, False),
    )
    assert web.ports[0].ready_endpoints == (ServiceEndpoint("10.244.1.11", 8080),)


def test_minimal_service_target_port_defaults_to_port_and_no_endpoints() -> None:
    (svc,) = load_expectations("services: [{name: a, clusterIP: 10.0.0.1, ports: [{port: 7}]}]",
                               "f")  # fmt: skip
    assert (svc.ports[0].target_port, svc.ports[0].endpoints) == (7, ())


def test_cluster_ip_and_cluster_ips_may_both_be_given_when_they_agree() -> None:
    text = (
        "services: [{name: a, clusterIP: 10.0.0.1, clusterIPs: [10.0.0.1, 'fd00::1'], "
        "ports: [{port: 7}]}]"
    )
    assert load_expectations(text, "f")[0].cluster_ips == ("10.0.0.1", "fd00::1")


def test_empty_service_list_is_allowed() -> None:
    assert load_expectations("services: []", "f") == ()


def doc(body: str) -> str:
    """A one-Service document whose Service mapping continues with ``body``."""
    head = "services:\n  - name: dns\n    clusterIP: 10.96.0.10\n"
    return head + textwrap.indent(textwrap.dedent(body), "    ")


PORTS = "ports: [{port: 53, protocol: UDP}]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [\n", "f.yaml: line 2: invalid YAML: expected the node content, but found "
         "'<stream end>'"),
        ("services:\n  - name: a\n   bad: 1\n", "f.yaml: line 3: invalid YAML: expected "
         "<block end>, but found '<block mapping start>'"),
        ("", "f.yaml: expected a mapping with a 'services' list, the file is empty"),
        ("- name: a\n", "f.yaml: expected a mapping with a 'services' list, the file is a list"),
        ("service: []\n", "f.yaml: service: unknown key; known keys: services"),
        ("services: {name: a}\n", "f.yaml: services: expected a list, got a mapping: "
         "{'name': 'a'}"),
        ("services:\n", "f.yaml: services: expected a list, got missing"),
        ("services: [dns]\n", "f.yaml: services[0]: expected a mapping, got a string: 'dns'"),
        (doc("prots: []\n"), "f.yaml: services[0].prots: unknown key; known keys: name, "
         "namespace, clusterIP, clusterIPs, externalIPs, ports, endpoints"),
        ("services: [{clusterIP: 10.0.0.1, ports: [{port: 1}]}]",
         "f.yaml: services[0].name: expected a string, got missing"),
        ("services: [{name: ' ', clusterIP: 10.0.0.1, ports: [{port: 1}]}]",
         "f.yaml: services[0].name: must not be empty"),
        ("services: [{name: a, namespace: 7, clusterIP: 10.0.0.1, ports: [{port: 1}]}]",
         "f.yaml: services[0].namespace: expected a string, got a number: 7"),
        ("services: [{name: a, ports: [{port: 1}]}]", "f.yaml: services[0]: clusterIP or "
         "clusterIPs is required (headless Services have no DNAT to check)"),
        ("services: [{name: a, clusterIP: None, ports: [{port: 1}]}]",
         "f.yaml: services[0].clusterIP: not an IPv4 or IPv6 address: 'None'"),
        ("services: [{name: a, clusterIPs: 10.0.0.1, ports: [{port: 1}]}]",
         "f.yaml: services[0].clusterIPs: expected a list of IP addresses, got a string: "
         "'10.0.0.1'"),
        ("services: [{name: a, clusterIPs: [10.0.0.1, 10.0.0.256], ports: [{port: 1}]}]",
         "f.yaml: services[0].clusterIPs[1]: not an IPv4 or IPv6 address: '10.0.0.256'"),
        ("services: [{name: a, clusterIP: 10.0.0.2, clusterIPs: [10.0.0.1], ports: [{port: 1}]}]",
         "f.yaml: services[0].clusterIP: 10.0.0.2 is not clusterIPs[0] (10.0.0.1)"),
        (doc("externalIPs: [1.2.3]\n" + PORTS),
         "f.yaml: services[0].externalIPs[0]: not an IPv4 or IPv6 address: '1.2.3'"),
        (doc(""), "f.yaml: services[0].ports: expected a list of ports, got missing"),
        (doc("ports: []\n"), "f.yaml: services[0].ports: at least one port is required"),
        (doc("ports: [{port: 53, protocol: ICMP}]\n"),
         "f.yaml: services[0].ports[0].protocol: must be TCP, UDP or SCTP, got 'ICMP'"),
        (doc("ports: [{port: 53, protocol: 17}]\n"),
         "f.yaml: services[0].ports[0].protocol: must be TCP, UDP or SCTP, got 17"),
        (doc("ports: [{protocol: UDP}]\n"),
         "f.yaml: services[0].ports[0].port: expected a port number, got missing"),
        (doc("ports: [{port: '53'}]\n"),
         "f.yaml: services[0].ports[0].port: expected a port number, got a string: '53'"),
        (doc("ports: [{port: true}]\n"),
         "f.yaml: services[0].ports[0].port: expected a port number, got a boolean: True"),
        (doc("ports: [{port: 65536}]\n"),
         "f.yaml: services[0].ports[0].port: port must be 1-65535, got 65536"),
        (doc("ports: [{port: 53, targetPort: 0}]\n"),
         "f.yaml: services[0].ports[0].targetPort: port must be 1-65535, got 0"),
        (doc("ports: [{port: 53, targetPort: 53.5}]\n"),
         "f.yaml: services[0].ports[0].targetPort: expected a port number, got a number: 53.5"),
        (doc("ports: [{port: 80, nodePort: -1}]\n"),
         "f.yaml: services[0].ports[0].nodePort: port must be 1-65535, got -1"),
        (doc("ports: [{port: 80, name: ''}]\n"),
         "f.yaml: services[0].ports[0].name: must not be empty"),
        (doc("ports: [{port: 53, proto: UDP}]\n"), "f.yaml: services[0].ports[0].proto: "
         "unknown key; known keys: port, protocol, targetPort, nodePort, name"),
        (doc("ports: [{port: 53, protocol: UDP}, {port: 53, protocol: udp}]\n"),
         "f.yaml: services[0].ports[1]: 53/UDP is already ports[0]"),
        (doc(PORTS + "endpoints: {ip: 10.0.0.1}\n"),
         "f.yaml: services[0].endpoints: expected a list, got a mapping: {'ip': '10.0.0.1'}"),
        (doc(PORTS + "endpoints: [{port: 53}]\n"),
         "f.yaml: services[0].endpoints[0].ip: expected an IP address, got nothing (required)"),
        (doc(PORTS + "endpoints: [{ip: 10.244.1.300}]\n"),
         "f.yaml: services[0].endpoints[0].ip: not an IPv4 or IPv6 address: '10.244.1.300'"),
        (doc(PORTS + "endpoints: [{ip: 10.0.0.1, ready: yes please}]\n"),
         "f.yaml: services[0].endpoints[0].ready: expected true or false, got a string: "
         "'yes please'"),
        (doc(PORTS + "endpoints: [{ip: 10.0.0.1, serving: 1}]\n"),
         "f.yaml: services[0].endpoints[0].serving: expected true or false, got a number: 1"),
        (doc(PORTS + "endpoints: [{ip: 10.0.0.1, redy: false}]\n"),
         "f.yaml: services[0].endpoints[0].redy: unknown key; known keys: ip, port, ready, "
         "serving, pod, node"),
        (doc(PORTS + "endpoints: [{ip: 10.0.0.1, port: 5353}]\n"),
         "f.yaml: services[0].endpoints[0].port: 5353 is no targetPort of this Service (53)"),
        (doc("ports: [{port: 80, targetPort: http}]\nendpoints: [{ip: 10.0.0.1}]\n"),
         "f.yaml: services[0].endpoints[0].port: required: services[0].ports[0] has the named "
         "targetPort 'http'"),
        (doc(PORTS + "endpoints: [{ip: 10.0.0.1, pod: [a]}]\n"),
         "f.yaml: services[0].endpoints[0].pod: expected a string, got a list: ['a']"),
        ("services:\n- {name: a, clusterIP: 10.0.0.1, ports: [{port: 1}]}\n"
         "- {name: a, clusterIP: 10.0.0.2, ports: [{port: 2}]}\n",
         "f.yaml: services[1]: default/a is already services[0]"),
    ],
)  # fmt: skip
def test_errors_are_one_line_with_file_path_and_problem(text: str, message: str) -> None:
    with pytest.raises(ExpectationError) as caught:
        load_expectations(text, "f.yaml")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_same_name_in_other_namespaces_is_not_a_duplicate() -> None:
    text = """\
services:
  - {name: dns, namespace: a, clusterIP: 10.0.0.1, ports: [{port: 53}]}
  - {name: dns, namespace: b, clusterIP: 10.0.0.2, ports: [{port: 53}]}
"""
    assert [s.namespace for s in load_expectations(text, "f")] == ["a", "b"]
