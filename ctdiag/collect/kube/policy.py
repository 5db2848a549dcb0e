"""The numbers of the Kubernetes path: option defaults and the one retry policy.

Importable without the Kubernetes client, so the pytest plugin and ``ctdiag --help`` can
show them without loading it. :mod:`ctdiag.collect.kube.access` applies the policy.
"""

from __future__ import annotations

#: Seconds one request may take, connecting included (``--api-timeout``).
DEFAULT_REQUEST_TIMEOUT_S = 30.0
#: Seconds the pod watch may take to connect (its reading waits as long as it watches).
CONNECT_TIMEOUT_S = 5.0
#: Pauses before the 2nd to 5th attempt of a call answered with a 5xx, a 429 or nothing.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)
#: No attempt is started with less time than this left in the call's budget.
MIN_ATTEMPT_S = 1.0
#: HTTP statuses worth another attempt (0: no answer at all).
RETRIED_STATUSES = frozenset({0, 429, 500, 502, 503, 504})
#: Seconds a debug pod may take to start (``--pod-timeout``).
DEFAULT_START_TIMEOUT_S = 120.0


def call_budget_s(request_timeout_s: float) -> float:
    """The longest one call may take, every attempt and pause included: two requests that
    time out, plus every pause (:data:`RETRY_DELAYS_S`)."""
    return 2 * request_timeout_s + sum(RETRY_DELAYS_S)


def api_timeout_help() -> str:
    """What ``--api-timeout`` bounds, with the retry policy's numbers."""
    pauses = ", ".join(f"{d:g}" for d in RETRY_DELAYS_S)
    return (f"seconds one API request may take (default {DEFAULT_REQUEST_TIMEOUT_S:g}); a 5xx, "
            f"429 or no answer is tried again after {pauses} s, and one call gives up after "
            f"2 x S + {sum(RETRY_DELAYS_S):g} s in all "
            f"({call_budget_s(DEFAULT_REQUEST_TIMEOUT_S):g} s at the default)")  # fmt: skip
