"""A throwaway certificate authority and server certificate per lab API server.

Made with the ``openssl`` CLI (argv lists, no shell): a CA, and a leaf for
``IP:127.0.0.1`` / ``DNS:localhost`` signed by it, so that clients verifying strictly
(Python 3.13's ``VERIFY_X509_STRICT``) accept it. EC P-256 keys keep this to some 10 ms.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ctdiag.errors import LabError

_TIMEOUT_S = 10.0
_DAYS = "2"


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """Files of one server's TLS identity.

    Attributes:
        ca_cert: the CA certificate clients trust (PEM).
        cert: the server certificate (PEM).
        key: the server's private key (PEM).
    """

    ca_cert: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabError("the lab API server needs the openssl CLI (Debian package openssl)")
    done = subprocess.run(
        [openssl, *args], capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise LabError(f"openssl {args[0]} failed ({done.returncode}): {done.stderr.strip()}")


def make_certificate(directory: Path) -> ServerCertificate:
    """Create a CA and a server certificate for 127.0.0.1 in ``directory``."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_cert), "-days", _DAYS,
        "-subj", "/CN=ctdiag-lab-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    _openssl(
        "req", "-new", *ec, "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=ctdiag-lab-apiserver",
    )
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", _DAYS, "-extfile", str(extensions),
    )
    for secret in (ca_key, key):
        secret.chmod(0o600)
    return ServerCertificate(ca_cert=ca_cert, cert=cert, key=key)
