"""Open an exec WebSocket the way the official client does, bounded in time.

``kubernetes.stream.ws_client.create_websocket`` (client 37) opens the socket with no
timeout at all: an API server or proxy that accepts the TCP connection and never answers
the upgrade (a hung kubelet behind it, a stalled load balancer) holds the caller for ever,
whatever ``--api-timeout`` says. :func:`open_exec_socket` builds the same connection (the
client's credential header, sub-protocols, TLS verification, client certificates, server
name, proxy settings through the client's own ``websocket_proxycare``) and passes
``timeout`` to every step: TCP connect, TLS, the HTTP upgrade, and each read after it.
"""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import websocket
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import (
    V4_CHANNEL_PROTOCOL,
    V5_CHANNEL_PROTOCOL,
    websocket_proxycare,
)


def _tls_options(configuration: Configuration, url: str) -> dict[str, Any]:
    """``create_websocket``'s ``sslopt``: verify against the kubeconfig's CA unless told not to."""
    options: dict[str, Any]
    if url.startswith("wss://") and configuration.verify_ssl:
        options = {
            "cert_reqs": ssl.CERT_REQUIRED,
            "ca_certs": configuration.ssl_ca_cert or certifi.where(),
        }
        if configuration.assert_hostname is not None:
            options["check_hostname"] = configuration.assert_hostname
    else:
        options = {"cert_reqs": ssl.CERT_NONE}
    if configuration.cert_file:
        options["certfile"] = configuration.cert_file
    if configuration.key_file:
        options["keyfile"] = configuration.key_file
    if configuration.tls_server_name:
        options["server_hostname"] = configuration.tls_server_name
    return options


def open_exec_socket(
    configuration: Configuration, url: str, headers: dict[str, str], timeout: float
) -> websocket.WebSocket:
    """Connect to ``url`` (``wss://.../exec?...``) within ``timeout`` seconds per step.

    Args:
        configuration: the client configuration (host, TLS, proxy).
        url: the exec address (:func:`~ctdiag.collect.kube.exec.exec_url`).
        headers: lower-case request headers; ``authorization`` is sent, and
            ``sec-websocket-protocol`` when given (else v5 then v4 channel protocols).
        timeout: seconds for each blocking step, and the socket's timeout afterwards.

    Raises:
        websocket.WebSocketTimeoutException: a step took longer than ``timeout``.
        websocket.WebSocketBadStatusException: the server refused the upgrade (403, 404 ...).
        websocket.WebSocketException, OSError: any other failure to connect.
    """
    header = []
    if "authorization" in headers:
        header.append(f"authorization: {headers['authorization']}")
    both = f"{V5_CHANNEL_PROTOCOL},{V4_CHANNEL_PROTOCOL}"
    protocols = headers.get("sec-websocket-protocol", both)
    header.append(f"sec-websocket-protocol: {protocols}")
    options: dict[str, Any] = {"header": header}
    if configuration.proxy or configuration.proxy_headers:
        options = websocket_proxycare(options, configuration, url, headers)
    ws = websocket.WebSocket(sslopt=_tls_options(configuration, url), skip_utf8_validation=False)
    ws.settimeout(timeout)  # as websocket.create_connection does: connect, TLS, upgrade, reads
    ws.connect(url, **options)
    return ws
