"""Cluster access: credentials, one REST client, and API errors mapped to ours.

Credentials come from ``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config`` (with
``--context``), or the pod's service account when running inside a cluster. Exec gets its
own :class:`kubernetes.client.Configuration` view (:attr:`Cluster.configuration`) and never
goes through the shared ``ApiClient``: ``kubernetes.stream.stream()`` patches that client
while it runs, which breaks concurrent REST calls (kubernetes-client/python#928).

One retry policy, ctdiag's own (the client's urllib3 retries are switched off, so one call
is never a dozen hidden requests; the numbers live in :mod:`ctdiag.collect.kube.policy`):
every request waits at most ``--api-timeout`` (30 s by default, connection included); a
call that gets a 5xx, a 429 or no answer is tried again after 0.5, 1, 2 and 4 s (at most 5
attempts, so a burst of four 500s is survived), and gives up once it has taken
``call_budget_s`` = 2 x ``--api-timeout`` + 7.5 s (67.5 s at the default 30 s) in all.
Every call ctdiag makes may be repeated: reads, lists and deletes are idempotent, and creates
name their objects, so a repeated create finds its object (409, see
:mod:`ctdiag.collect.kube.pods`). Errors become :class:`~ctdiag.errors.ApiError` and its
subclasses, with one line saying what was asked and what the server said.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
import yaml  # type: ignore[import-untyped, unused-ignore]
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ctdiag.collect.kube.policy import (
    CONNECT_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    MIN_ATTEMPT_S,
    RETRIED_STATUSES,
    RETRY_DELAYS_S,
    call_budget_s,
)
from ctdiag.errors import ApiError, ClusterError, ForbiddenError, NotFoundError


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one printable line: whitespace runs (newlines too) become one space,
    other control characters their escapes, and at most ``limit`` characters are kept."""
    flat = " ".join(text.split())
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)
    return shown if len(shown) <= limit else f"{shown[: limit - 3]}..."


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AccessOptions:
    """Where the cluster's credentials come from (all ``None``: the usual search order)."""

    kubeconfig: str | None = None
    context: str | None = None
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    """Seconds one request may take (``--api-timeout``); see :func:`call_budget_s`."""


class Cluster:
    """One cluster: its REST client and the configuration exec connections are made with.

    Attributes:
        where: ``context (server)`` for messages.
        configuration: credentials and TLS settings (read-only for exec connections).
        core: the CoreV1 API on the REST client.
    """

    def __init__(self, configuration: client.Configuration, where: str,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S) -> None:  # fmt: skip
        # urllib3 would otherwise retry each request 3 times under our own retries.
        configuration.retries = False
        self.configuration = configuration
        self.where = where
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = min(CONNECT_TIMEOUT_S, request_timeout_s)
        self.call_budget_s = call_budget_s(request_timeout_s)
        self.api_client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.api_client)
        self.discovery = client.DiscoveryV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def call(
        self, what: str, method: Callable[..., T], *args: Any, node: str = "",
        until: float | None = None, **kwargs: Any,
    ) -> T:  # fmt: skip
        """``method(*args, **kwargs)`` with a timeout, retries and our errors (see the module
        docstring for the policy).

        Args:
            what: the request in a few words (``create pod ctdiag-x``), for the message.
            node: the node concerned, named first in the message.
            until: a ``time.monotonic()`` deadline that ends the call sooner than its budget.

        Raises:
            ForbiddenError: 403. NotFoundError: 404. ApiError: any other failure.
        """
        started = time.monotonic()
        deadline = started + self.call_budget_s
        if until is not None:
            deadline = min(deadline, until)
        for attempt, pause in enumerate((*RETRY_DELAYS_S, None), start=1):
            remaining = max(MIN_ATTEMPT_S, deadline - time.monotonic())
            # One number: urllib3 bounds connecting and reading together by it.
            kwargs["_request_timeout"] = min(self.request_timeout_s, remaining)
            try:
                return method(*args, **kwargs)
            except ApiException as exc:
                error = api_error(what, exc, node=node)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                message = f"{what}: no answer from the API server {self.where}: {_short(exc)}"
                error = ApiError(message, status=0, node=node)
            retry = (
                pause is not None
                and error.status in RETRIED_STATUSES
                and time.monotonic() + pause + MIN_ATTEMPT_S <= deadline
            )
            if not retry:
                if attempt > 1:
                    spent = time.monotonic() - started
                    error.args = (f"{error} ({attempt} attempts in {spent:.1f} s)",)
                raise error
            assert pause is not None
            time.sleep(pause)
        raise AssertionError("unreachable")


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    return one_line(text) if text.strip() else type(exc).__name__


def api_error(what: str, exc: ApiException, *, node: str = "") -> ApiError:
    """``exc`` as one of our errors, with the Status message the server sent."""
    status = int(exc.status or 0)
    reason = str(exc.reason or "")
    message = reason
    try:
        body = json.loads(exc.body) if exc.body else {}
        if isinstance(body, dict):
            message = str(body.get("message") or reason)
            reason = str(body.get("reason") or reason)
    except (TypeError, ValueError):
        pass
    reason, message = one_line(reason, 80), one_line(message)
    text = f"{what}: HTTP {status} {reason}: {message}" if status else f"{what}: {message}"
    kind = {403: ForbiddenError, 404: NotFoundError}.get(status, ApiError)
    return kind(text, status=status, reason=reason, node=node)


def connect(options: AccessOptions = AccessOptions()) -> Cluster:
    """Load credentials the way kubectl does and return the cluster.

    Order: ``options.kubeconfig``, else ``KUBECONFIG`` or ``~/.kube/config`` when present,
    else the in-cluster service account.

    Raises:
        ClusterError: no usable credentials (one line saying which sources were tried).
    """
    configuration = client.Configuration()
    explicit = options.kubeconfig
    from_env = os.environ.get("KUBECONFIG") or None
    default = Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION))
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    source = explicit or from_env or (str(default) if default.exists() else None)
    if source is None and not in_cluster:
        raise ClusterError("no kubeconfig found: KUBECONFIG, --kubeconfig, ~/.kube/config, "
                           "in-cluster (KUBERNETES_SERVICE_HOST is not set)")  # fmt: skip
    if explicit is not None and not Path(explicit).is_file():
        raise ClusterError(f"--kubeconfig {explicit}: no such file")
    try:
        if source is not None:
            config.load_kube_config(
                config_file=explicit, context=options.context,
                client_configuration=configuration, persist_config=False,
            )  # fmt: skip
            _, active = config.list_kube_config_contexts(config_file=explicit)
            name = options.context or (active or {}).get("name", "?")
        else:
            if options.context:
                raise ClusterError(f"--context {options.context}: no kubeconfig found")
            config.load_incluster_config(client_configuration=configuration)
            name = "in-cluster"
    except ClusterError:
        raise
    # A kubeconfig that is not YAML fails in the YAML parser, not in the client.
    except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        where = source or "in-cluster service account"
        raise ClusterError(f"cannot load cluster credentials from {where}: {_short(exc)}") from exc
    return Cluster(configuration, f"{name} ({configuration.host})", options.request_timeout_s)
