"""Conntrack sysctls and bridge-nf-call-iptables (ctdiag.assess.tunables), from real dumps.

``data/sysctl-*.txt`` are ``sysctl -e net.netfilter net.bridge.bridge-nf-call-iptables ...``
in a fresh namespace: kernel defaults, kube-proxy's values, and each value one past its
boundary (see the README there).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctdiag.assess import remedies, tunables
from ctdiag.assess.tunables import RULE_BY_NAME, RULES, Expect
from ctdiag.model.verdict import Level
from ctdiag.parse.sysctl import Tunable, parse_sysctl_dump
from tests.assess.inputs import STATS, data, with_sysctl

DEFAULTS = data("sysctl-defaults.txt")
KUBE_PROXY = data("sysctl-kube-proxy.txt")
MISCONFIGURED = data("sysctl-misconfigured.txt")
ESTABLISHED = RULE_BY_NAME["nf_conntrack_tcp_timeout_established"]
CLOSE_WAIT = RULE_BY_NAME["nf_conntrack_tcp_timeout_close_wait"]
LOOSE = RULE_BY_NAME["nf_conntrack_tcp_loose"]
LIBERAL = RULE_BY_NAME["nf_conntrack_tcp_be_liberal"]
REPORTED = (
    "nf_conntrack_tcp_timeout_time_wait",
    "nf_conntrack_udp_timeout",
    "nf_conntrack_udp_timeout_stream",
)


def levels(dump: str) -> dict[str, Level]:
    parsed = parse_sysctl_dump(dump)
    return {rule.short_name: tunables.tunable(parsed, rule).level for rule in RULES}  # type: ignore[union-attr]


def test_every_rule_is_addressable_by_its_short_name() -> None:
    assert set(RULE_BY_NAME) == {rule.name.rsplit(".", 1)[-1] for rule in RULES}
    assert {rule.name for rule in RULES} <= set(parse_sysctl_dump(DEFAULTS))


def test_kernel_defaults() -> None:
    assert levels(DEFAULTS) == {
        "nf_conntrack_tcp_timeout_established": Level.FAIL,  # 432000
        "nf_conntrack_tcp_timeout_close_wait": Level.FAIL,  # 60
        "nf_conntrack_tcp_timeout_time_wait": Level.PASS,
        "nf_conntrack_udp_timeout": Level.PASS,
        "nf_conntrack_udp_timeout_stream": Level.PASS,
        "nf_conntrack_tcp_be_liberal": Level.PASS,
        "nf_conntrack_tcp_loose": Level.PASS,
    }


def test_kube_proxy_values_pass_exactly_at_the_boundary() -> None:
    assert set(levels(KUBE_PROXY).values()) == {Level.PASS}


def test_one_past_each_boundary() -> None:
    assert levels(MISCONFIGURED) == {
        "nf_conntrack_tcp_timeout_established": Level.FAIL,  # 86401
        "nf_conntrack_tcp_timeout_close_wait": Level.FAIL,  # 3599
        "nf_conntrack_tcp_timeout_time_wait": Level.PASS,
        "nf_conntrack_udp_timeout": Level.PASS,
        "nf_conntrack_udp_timeout_stream": Level.PASS,
        "nf_conntrack_tcp_be_liberal": Level.WARN,  # 1
        "nf_conntrack_tcp_loose": Level.FAIL,  # 0
    }


def test_the_grep_form_of_the_dump_judges_the_same() -> None:
    grep = parse_sysctl_dump((STATS / "grep-proc-sys-net-netfilter.txt").read_text())
    sysctl = parse_sysctl_dump((STATS / "sysctl-net-netfilter.txt").read_text())
    for rule in RULES:
        assert tunables.tunable(grep, rule) == tunables.tunable(sysctl, rule)


def test_established_message() -> None:
    fail = tunables.tunable(parse_sysctl_dump(MISCONFIGURED), ESTABLISHED)
    assert fail is not None
    assert fail.finding == (
        "net.netfilter.nf_conntrack_tcp_timeout_established = 86401 (kernel default 432000): "
        "idle flows pin table space for 5 days"
    )
    assert fail.threshold == "at most 86400"
    assert fail.source == tunables.KUBE_PROXY
    assert fail.remedy is remedies.SHORTEN_TIMEOUTS
    assert dict(fail.figures) == {"nf_conntrack_tcp_timeout_established": 86401.0}
    assert f"trade-off: {remedies.SHORTEN_TIMEOUTS.trade_off}" in fail.message()
    passed = tunables.tunable(parse_sysctl_dump(KUBE_PROXY), ESTABLISHED)
    assert passed is not None and passed.remedy is None
    assert passed.finding.startswith("net.netfilter.nf_conntrack_tcp_timeout_established = 86400 ")


def test_close_wait_message() -> None:
    fail = tunables.tunable(parse_sysctl_dump(MISCONFIGURED), CLOSE_WAIT)
    assert fail is not None
    assert fail.finding.startswith(
        "net.netfilter.nf_conntrack_tcp_timeout_close_wait = 3599 (kernel default 60): "
    )
    assert "kubernetes#32551" in fail.finding
    assert fail.threshold == "at least 3600"
    assert fail.remedy is CLOSE_WAIT.remedy and fail.remedy is not None
    assert "3600" in fail.remedy.action


def test_loose_and_be_liberal_messages() -> None:
    dump = parse_sysctl_dump(MISCONFIGURED)
    loose = tunables.tunable(dump, LOOSE)
    assert loose is not None
    assert loose.level is Level.FAIL
    assert loose.threshold == "equal to 1"
    assert loose.source == (
        "kernel nf_conntrack sysctls documentation (ctdiag/checks/README.md#tunables)"
    )
    assert loose.remedy is not None and "nf_conntrack_tcp_loose=1" in loose.remedy.action
    liberal = tunables.tunable(dump, LIBERAL)
    assert liberal is not None
    assert liberal.level is Level.WARN
    assert liberal.finding.startswith(
        "net.netfilter.nf_conntrack_tcp_be_liberal = 1 (kernel default 0): "
    )
    assert "PR #120412" in liberal.finding
    assert liberal.threshold == "reported (warn at 1)"
    assert liberal.remedy is remedies.LOG_INVALID
    zero = tunables.tunable(parse_sysctl_dump(DEFAULTS), LIBERAL)
    assert zero is not None and zero.level is Level.PASS and zero.remedy is None


@pytest.mark.parametrize("short_name", REPORTED)
def test_report_only_rules_pass_with_their_value(short_name: str) -> None:
    rule = RULE_BY_NAME[short_name]
    for value in ("0", "1", "30", "432000"):
        verdict = tunables.tunable(parse_sysctl_dump(with_sysctl(DEFAULTS, rule.name, value)), rule)
        assert verdict is not None
        assert verdict.level is Level.PASS
        assert verdict.threshold == "reported"
        assert verdict.finding.startswith(
            f"{rule.name} = {value} (kernel default {rule.kernel_default}): "
        )
        assert verdict.remedy is None
        assert dict(verdict.figures) == {short_name: float(value)}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.short_name)
def test_a_missing_sysctl_is_not_judged(rule: tunables.TunableRule) -> None:
    assert tunables.tunable(parse_sysctl_dump(with_sysctl(DEFAULTS, rule.name, None)), rule) is None


@given(value=st.integers(0, 10_000_000))
def test_timeout_rules_at_any_value(value: int) -> None:
    def level(rule: tunables.TunableRule) -> Level:
        verdict = tunables.tunable(
            parse_sysctl_dump(with_sysctl(DEFAULTS, rule.name, str(value))), rule
        )
        assert verdict is not None
        return verdict.level

    assert level(ESTABLISHED) is (Level.FAIL if value > 86400 else Level.PASS)
    assert level(CLOSE_WAIT) is (Level.FAIL if value < 3600 else Level.PASS)
    assert level(LOOSE) is (Level.PASS if value == 1 else Level.FAIL)
    assert level(LIBERAL) is (Level.WARN if value == 1 else Level.PASS)


def test_rule_table_matches_the_checks_guide() -> None:
    assert (ESTABLISHED.expect, ESTABLISHED.value) == (Expect.AT_MOST, 86400)
    assert (CLOSE_WAIT.expect, CLOSE_WAIT.value) == (Expect.AT_LEAST, 3600)
    assert (LOOSE.expect, LOOSE.value) == (Expect.EQUALS, 1)
    assert all(RULE_BY_NAME[name].expect is Expect.REPORT for name in REPORTED)


# --- bridge-nf-call-iptables -----------------------------------------------------------------


def test_bridge_nf_call_iptables() -> None:
    on = tunables.bridge_nf_call_iptables(parse_sysctl_dump(DEFAULTS))
    assert on is not None and on.level is Level.PASS and on.remedy is None
    assert on.finding.startswith("net.bridge.bridge-nf-call-iptables = 1: ")
    off = tunables.bridge_nf_call_iptables(parse_sysctl_dump(MISCONFIGURED))
    assert off is not None and off.level is Level.FAIL
    assert off.finding == (
        "net.bridge.bridge-nf-call-iptables = 0: with 0, bridged pod traffic bypasses iptables "
        "and conntrack (Service DNAT of same-bridge traffic breaks)"
    )
    assert off.threshold == "equal to 1 when br_netfilter is loaded"
    assert off.source.startswith("Kubernetes network plugin requirements")
    assert off.remedy is not None
    assert "bridge-nf-call-iptables=1" in off.remedy.action and off.remedy.trade_off
    assert dict(off.figures) == {"bridge_nf_call_iptables": 0.0}


def test_bridge_nf_call_iptables_absent_without_br_netfilter() -> None:
    # The statistics capture asked for net.netfilter only, as on a node without br_netfilter.
    dump = parse_sysctl_dump((STATS / "sysctl-net-netfilter.txt").read_text())
    assert Tunable.BRIDGE_NF_CALL_IPTABLES not in dump
    assert tunables.bridge_nf_call_iptables(dump) is None
    removed = with_sysctl(DEFAULTS, Tunable.BRIDGE_NF_CALL_IPTABLES, None)
    assert tunables.bridge_nf_call_iptables(parse_sysctl_dump(removed)) is None
