"""Cluster access: credentials, one REST client, and API errors mapped to ours.

Credentials come from ``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config`` (with
``--context``), or the pod's service account when running inside a cluster. Exec gets its
own :class:`kubernetes.client.Configuration` view (:attr:`Cluster.configuration`) and never
goes through the shared ``ApiClient``: ``kubernetes.stream.stream()`` patches that client
while it runs, which breaks concurrent REST calls (kubernetes-client/python#928).

Every call has a timeout and is retried twice on a 5xx answer or no answer, so one hiccup
of the API server does not fail a run. Every call ctdiag makes may be repeated: reads,
lists and deletes are idempotent, and creates name their objects, so a repeated create
finds its object (409, see :mod:`ctdiag.collect.kube.pods`). Errors become
:class:`~ctdiag.errors.ApiError`
and its subclasses, with one line saying what was asked and what the server said.
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
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ctdiag.errors import ApiError, ClusterError, ForbiddenError, NotFoundError

#: (connect, read) seconds for every REST call: a silent API server fails the call, not the run.
REQUEST_TIMEOUT = (5.0, 30.0)
RETRY_DELAYS_S = (0.5, 1.5)
_RETRIED_STATUSES = frozenset({0, 429, 500, 502, 503, 504})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AccessOptions:
    """Where the cluster's credentials come from (all ``None``: the usual search order)."""

    kubeconfig: str | None = None
    context: str | None = None
    request_timeout_s: float = REQUEST_TIMEOUT[1]
    """Seconds a REST call may wait for the answer (the connection gets 5 s at most)."""


class Cluster:
    """One cluster: its REST client and the configuration exec connections are made with.

    Attributes:
        where: ``context (server)`` for messages.
        configuration: credentials and TLS settings (read-only for exec connections).
        core: the CoreV1 API on the REST client.
    """

    def __init__(self, configuration: client.Configuration, where: str,
                 request_timeout_s: float = REQUEST_TIMEOUT[1]) -> None:  # fmt: skip
        self.configuration = configuration
        self.where = where
        self.request_timeout = (min(REQUEST_TIMEOUT[0], request_timeout_s), request_timeout_s)
        self.api_client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.api_client)
        self.discovery = client.DiscoveryV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def call(
        self, what: str, method: Callable[..., T], *args: Any, node: str = "", **kwargs: Any
    ) -> T:
        """``method(*args, **kwargs)`` with a timeout, retries and our errors.

        Args:
            what: the request in a few words (``create pod ctdiag-x``), for the message.
            node: the node concerned, named first in the message.

        Raises:
            ForbiddenError: 403. NotFoundError: 404. ApiError: any other failure.
        """
        kwargs.setdefault("_request_timeout", self.request_timeout)
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            try:
                return method(*args, **kwargs)
            except ApiException as exc:
                error = api_error(what, exc, node=node)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                message = f"{what}: no answer from the API server {self.where}: {_short(exc)}"
                error = ApiError(message, status=0, node=node)
            if attempt == len(RETRY_DELAYS_S) or error.status not in _RETRIED_STATUSES:
                raise error
            time.sleep(RETRY_DELAYS_S[attempt])
        raise AssertionError("unreachable")


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


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
    default = Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION))
    use_file = explicit is not None or bool(os.environ.get("KUBECONFIG")) or default.exists()
    try:
        if use_file:
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
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        source = explicit or os.environ.get("KUBECONFIG") or (
            str(default) if use_file else "in-cluster service account"
        )
        raise ClusterError(f"cannot load cluster credentials from {source}: {_short(exc)}") from exc
    return Cluster(configuration, f"{name} ({configuration.host})", options.request_timeout_s)
