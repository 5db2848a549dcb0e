"""Conntrack sysctls a pre-upgrade validation looks at (checks guide: tunables)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ctdiag.assess import remedies
from ctdiag.model.verdict import Level, Remedy, Verdict
from ctdiag.parse.sysctl import Tunable, Tunables


class Expect(enum.Enum):
    """How a tunable's value is judged."""

    AT_MOST = "at most"
    AT_LEAST = "at least"
    EQUALS = "equal to"
    REPORT = "reported"


@dataclass(frozen=True, slots=True)
class TunableRule:
    """The expectation for one sysctl, with its reason and source."""

    name: Tunable
    expect: Expect
    value: int | None
    kernel_default: str
    why: str
    source: str
    remedy: Remedy | None = None
    warn_if: int | None = None
    """For REPORT rules: a value that warns (``tcp_be_liberal=1``)."""

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


KUBE_PROXY = "kube-proxy --conntrack-tcp-timeout-* defaults (ctdiag/checks/README.md#tunables)"
RULES: tuple[TunableRule, ...] = (
    TunableRule(Tunable.TCP_TIMEOUT_ESTABLISHED, Expect.AT_MOST, 86400, "432000",
                "idle flows pin table space for 5 days", KUBE_PROXY, remedies.SHORTEN_TIMEOUTS),
    TunableRule(Tunable.TCP_TIMEOUT_CLOSE_WAIT, Expect.AT_LEAST, 3600, "60",
                "an expired CLOSE_WAIT entry breaks SNAT'd FINs (kubernetes#32551)", KUBE_PROXY,
                Remedy("set nf_conntrack_tcp_timeout_close_wait to 3600 (kube-proxy's value)",
                       "closing flows keep their entries up to an hour")),
    TunableRule(Tunable.TCP_TIMEOUT_TIME_WAIT, Expect.REPORT, None, "120",
                "TIME_WAIT entries of short connections fill busy tables",
                "reported (ctdiag/checks/README.md#tunables)"),
    TunableRule(Tunable.UDP_TIMEOUT, Expect.REPORT, None, "30",
                "refreshing UDP clients keep stale entries alive",
                "reported (ctdiag/checks/README.md#tunables)"),
    TunableRule(Tunable.UDP_TIMEOUT_STREAM, Expect.REPORT, None, "120",
                "assured UDP flows (DNS over one socket, statsd) live this long",
                "reported (ctdiag/checks/README.md#tunables)"),
    TunableRule(Tunable.TCP_BE_LIBERAL, Expect.REPORT, None, "0",
                "1 marks only out-of-window RSTs INVALID and removes kube-proxy's INVALID drop "
                "rule (PR #120412)", "kubernetes PR #120412 (ctdiag/checks/README.md#invalid)",
                remedies.LOG_INVALID, warn_if=1),
    TunableRule(Tunable.TCP_LOOSE, Expect.EQUALS, 1, "1",
                "0 marks mid-stream packets INVALID after a table flush or restart",
                "kernel nf_conntrack sysctls documentation (ctdiag/checks/README.md#tunables)",
                Remedy("set net.netfilter.nf_conntrack_tcp_loose=1",
                       "mid-stream pickup lets conntrack adopt flows it did not see start")),
)  # fmt: skip
RULE_BY_NAME = {rule.short_name: rule for rule in RULES}


def _holds(rule: TunableRule, value: int) -> bool:
    if rule.expect is Expect.AT_MOST:
        return value <= (rule.value or 0)
    if rule.expect is Expect.AT_LEAST:
        return value >= (rule.value or 0)
    if rule.expect is Expect.EQUALS:
        return value == rule.value
    return True


def tunable(tunables: Tunables, rule: TunableRule) -> Verdict | None:
    """The verdict on one sysctl, ``None`` when the node does not have it."""
    value = tunables.get_int(rule.name)
    if value is None:
        return None
    if rule.expect is Expect.REPORT:
        level = Level.WARN if rule.warn_if is not None and value == rule.warn_if else Level.PASS
        threshold = f"reported (warn at {rule.warn_if})" if rule.warn_if is not None else "reported"
    else:
        level = Level.PASS if _holds(rule, value) else Level.FAIL
        threshold = f"{rule.expect.value} {rule.value}"
    return Verdict(
        level,
        f"{rule.name} = {value} (kernel default {rule.kernel_default}): {rule.why}",
        threshold=threshold,
        source=rule.source,
        remedy=rule.remedy if level is not Level.PASS else None,
        figures=((rule.short_name, float(value)),),
    )


def bridge_nf_call_iptables(tunables: Tunables) -> Verdict | None:
    """With br_netfilter loaded, bridged pod traffic must traverse iptables (and conntrack).

    Returns ``None`` when the key is absent, i.e. br_netfilter is not loaded.
    """
    value = tunables.get_int(Tunable.BRIDGE_NF_CALL_IPTABLES)
    if value is None:
        return None
    level = Level.PASS if value == 1 else Level.FAIL
    return Verdict(
        level,
        f"{Tunable.BRIDGE_NF_CALL_IPTABLES} = {value}: with 0, bridged pod traffic bypasses "
        "iptables and conntrack (Service DNAT of same-bridge traffic breaks)",
        threshold="equal to 1 when br_netfilter is loaded",
        source="Kubernetes network plugin requirements (ctdiag/checks/README.md#tunables)",
        remedy=Remedy(
            "set net.bridge.bridge-nf-call-iptables=1 (and -ip6tables) persistently",
            "bridged traffic then costs an iptables traversal",
        )
        if level is Level.FAIL
        else None,
        figures=(("bridge_nf_call_iptables", float(value)),),
    )
