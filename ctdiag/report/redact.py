"""Address redaction for reports handed outside: one address, one token, everywhere.

Every IPv4 and IPv6 address in a text becomes a token (``ip-1``, ``ip6-1``...) numbered in
order of first sight; the same address always gets the same token within a run, whatever
its spelling (``fd00:0:0::1`` and ``fd00::1`` are one address), so flows can still be
followed through the report. EC2-style host names that spell an address
(``ip-10-0-1-2``) get that address's token too. A disabled redactor returns its input.

Pure text in, text out; the plugin passes everything it writes through one
:class:`Redactor`, then runs :meth:`Redactor.html_document` over the finished HTML file as
a safety net for text that pytest and pytest-html put there themselves.
"""

from __future__ import annotations

import html
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

_IPV4 = re.compile(r"(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9]|\.[0-9])")
#: An address may follow or precede a colon ("addr:fe80::1", "fd00::1: 3 entries"), never a
#: letter or digit.
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![0-9A-Za-z]|:[0-9A-Fa-f:]|\.[0-9])"
)
_EC2_NAME = re.compile(r"(?<![0-9A-Za-z])ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?![0-9])")
#: Script and style blocks of a document are code, never data: left untouched.
_CODE_BLOCK = re.compile(r"(<script\b.*?</script>|<style\b.*?</style>)", re.DOTALL | re.I)
#: pytest-html keeps its results as JSON in this attribute (HTML-escaped).
_JSON_BLOB = re.compile(r'(data-jsonblob=")([^"]*)(")')


def _ipv4(text: str) -> str | None:
    octets = [int(part) for part in text.split(".")]
    if any(octet > 255 for octet in octets):
        return None
    return ".".join(str(octet) for octet in octets)


class Redactor:
    """Replaces addresses by stable tokens (or does nothing when disabled).

    Attributes:
        enabled: whether :meth:`text` changes anything.
        tokens: canonical address -> token, in order of first sight.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tokens: dict[str, str] = {}
        self._counts = {4: 0, 6: 0}

    def token(self, address: str) -> str:
        """The token of ``address`` (canonical form), assigning the next one on first sight."""
        token = self.tokens.get(address)
        if token is None:
            family = 6 if ":" in address else 4
            self._counts[family] += 1
            token = f"ip-{self._counts[4]}" if family == 4 else f"ip6-{self._counts[6]}"
            self.tokens[address] = token
        return token

    def _replace_ipv6(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if not any(ch in "0123456789abcdefABCDEF" for ch in text):
            return text  # a bare "::" is punctuation far more often than an address
        # "fd00::1: 3 entries": the pattern takes the colon after the address too.
        for candidate, rest in (
            (text, ""),
            (text.rstrip(":"), ":" * (len(text) - len(text.rstrip(":")))),
        ):
            try:
                address = ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            mapped = address.ipv4_mapped
            if mapped is not None:
                return "::ffff:" + self.token(str(mapped)) + rest
            return self.token(address.compressed) + rest
        return text

    def _replace_ipv4(self, match: re.Match[str]) -> str:
        canonical = _ipv4(match.group(0))
        return match.group(0) if canonical is None else self.token(canonical)

    def _replace_ec2(self, match: re.Match[str]) -> str:
        canonical = _ipv4(".".join(match.groups()))
        return match.group(0) if canonical is None else self.token(canonical)

    def text(self, text: str) -> str:
        """``text`` with every address replaced by its token."""
        if not self.enabled or not text:
            return text
        text = _IPV6.sub(self._replace_ipv6, text)
        text = _IPV4.sub(self._replace_ipv4, text)
        return _EC2_NAME.sub(self._replace_ec2, text)

    def html(self, value: object) -> str:
        """``value`` as text, redacted, then escaped for HTML text and attribute values."""
        return html.escape(self.text(str(value)), quote=True)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it (dict keys too) redacted."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def _json_blob(self, match: re.Match[str]) -> str:
        try:
            data = json.loads(html.unescape(match.group(2)))
        except json.JSONDecodeError:
            return match.group(1) + self.text(match.group(2)) + match.group(3)
        blob = html.escape(json.dumps(self.value(data)), quote=True)
        return match.group(1) + blob + match.group(3)

    def html_document(self, document: str) -> str:
        """A whole HTML file redacted: text and attributes, pytest-html's JSON data decoded
        and redacted string by string; ``<script>`` and ``<style>`` blocks left as they are.
        """
        if not self.enabled:
            return document
        parts = _CODE_BLOCK.split(document)
        for index in range(0, len(parts), 2):  # odd indices are the code blocks
            parts[index] = self.text(_JSON_BLOB.sub(self._json_blob, parts[index]))
        return "".join(parts)
