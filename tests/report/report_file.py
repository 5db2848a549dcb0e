"""Reading a pytest-html report the way a browser does, for the escaping and leak tests.

pytest-html stores its results as JSON in one HTML attribute, and its JavaScript inserts
cells, logs, ``html`` extras and environment values with ``innerHTML``. A payload that
is escaped only by that attribute's encoding would pass a plain text search of the file
and still run in the browser, so the tests decode the JSON and look at each string the
browser will parse as HTML.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import json
import re
from typing import Any

_BLOB = re.compile(r'data-jsonblob="([^"]*)"')
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_CODE = re.compile(r"<script\b.*?</script>|<style\b.*?</style>", re.DOTALL)
_DATA_URI = re.compile(r"data:[a-z+/-]+(?:;charset=[a-z0-9-]+)?;base64,([A-Za-z0-9+/=]+)")
EXTERNAL = re.compile(
    r"""(?:\bsrc|<link\b[^>]*\bhref|xlink:href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.IGNORECASE,
)


def report_data(document: str) -> dict[str, Any]:
    """pytest-html's results, decoded from the report."""
    match = _BLOB.search(document)
    assert match is not None, "no data-jsonblob in the report"
    data: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return data


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (str(key), *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [str(value)]


def html_sinks(document: str) -> list[str]:
    """Every piece of the report a browser parses as HTML: the static page (scripts and the
    JSON attribute removed) and each string the JavaScript inserts with ``innerHTML``."""
    static = _SCRIPT.sub("", _BLOB.sub('data-jsonblob=""', document))
    data = report_data(document)
    sinks = [static, *_strings(data.get("environment", {}))]
    for runs in data["tests"].values():
        for run in runs:
            sinks += run.get("resultsTableRow", [])
            sinks.append(run.get("log", ""))
            sinks += run.get("tableHtml", [])
            sinks += [e["content"] for e in run.get("extras", []) if e["format_type"] == "html"]
    return sinks


def all_text(document: str) -> str:
    """The whole report with its JSON decoded and its data: URIs (attachments) decoded too."""
    text = "\n".join([document, *_strings(report_data(document))])
    decoded = [
        base64.b64decode(m.group(1)).decode("utf-8", "replace") for m in _DATA_URI.finditer(text)
    ]
    return "\n".join([text, *decoded])


def addresses_in(text: str) -> set[str]:
    """Every IPv4/IPv6 address in ``text`` (code blocks excepted), in every spelling a report
    might use; found independently of the redactor: every word made of address characters,
    and every tail of it after a colon, is tried with :mod:`ipaddress`."""
    text = _CODE.sub("", text)
    found: set[str] = set()
    for word in re.findall(r"[0-9A-Za-z:.]+", text):
        for octets in re.findall(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d]|\.\d)", word):
            if all(int(octet) <= 255 for octet in octets.split(".")):
                found.add(octets)
        tails = [word] + [word[i + 1 :] for i, ch in enumerate(word) if ch == ":"]
        for tail in tails:
            for spelling in (tail, tail.rstrip(":.")):
                if not re.search(r"[0-9A-Fa-f]", spelling):
                    continue
                try:
                    address = ipaddress.IPv6Address(spelling)
                except ValueError:
                    continue
                found |= {address.compressed, address.exploded}
    return found
