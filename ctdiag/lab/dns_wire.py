"""The few bytes of the DNS wire format the lab needs: an A query and its answer (RFC 1035).

Standard library only, because these run inside pod namespaces as small programs.
"""

from __future__ import annotations

import ipaddress
import struct

TYPE_A = 1
CLASS_IN = 1
_HEADER = struct.Struct("!HHHHHH")
_FLAG_RESPONSE = 0x8000
_FLAG_RD = 0x0100
_FLAG_RA = 0x0080
_RCODE_NXDOMAIN = 3


class DnsFormatError(ValueError):
    """Bytes that are not a DNS message this lab understands."""


def _encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DnsFormatError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\0")


def build_query(query_id: int, name: str) -> bytes:
    """An A/IN query for ``name`` with recursion desired."""
    return (
        _HEADER.pack(query_id & 0xFFFF, _FLAG_RD, 1, 0, 0, 0)
        + _encode_name(name)
        + struct.pack("!HH", TYPE_A, CLASS_IN)
    )


def _read_question(packet: bytes) -> tuple[str, int, int, int]:
    """Return (name, qtype, qclass, end offset) of the first question; no compression."""
    labels: list[str] = []
    pos = _HEADER.size
    while True:
        if pos >= len(packet):
            raise DnsFormatError("question runs past the packet")
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length >= 64:
            raise DnsFormatError("compressed or oversized label in a question")
        labels.append(packet[pos : pos + length].decode("ascii", errors="replace"))
        pos += length
    if pos + 4 > len(packet):
        raise DnsFormatError("question without type and class")
    qtype, qclass = struct.unpack_from("!HH", packet, pos)
    return ".".join(labels).lower(), qtype, qclass, pos + 4


def answer(packet: bytes, records: dict[str, str], *, ttl: int = 5) -> bytes:
    """The response to ``packet``: an A record from ``records`` or NXDOMAIN.

    Raises:
        DnsFormatError: ``packet`` is not a query with exactly one question.
    """
    if len(packet) < _HEADER.size:
        raise DnsFormatError("shorter than a DNS header")
    query_id, flags, qdcount, _, _, _ = _HEADER.unpack_from(packet)
    if flags & _FLAG_RESPONSE or qdcount != 1:
        raise DnsFormatError("not a single-question query")
    name, qtype, qclass, end = _read_question(packet)
    question = packet[_HEADER.size : end]
    reply_flags = _FLAG_RESPONSE | (flags & _FLAG_RD) | _FLAG_RA
    address = records.get(name)
    if address is None or qtype != TYPE_A or qclass != CLASS_IN:
        rcode = _RCODE_NXDOMAIN if address is None else 0
        return _HEADER.pack(query_id, reply_flags | rcode, 1, 0, 0, 0) + question
    rdata = ipaddress.IPv4Address(address).packed
    # 0xC00C: a compression pointer to the name at offset 12, right after the header.
    record = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, ttl, len(rdata)) + rdata
    return _HEADER.pack(query_id, reply_flags, 1, 1, 0, 0) + question + record


def parse_answer(packet: bytes, query_id: int) -> str | None:
    """The first A address in a response to ``query_id``, or ``None`` (NXDOMAIN, no answer).

    Raises:
        DnsFormatError: not a response to ``query_id``.
    """
    if len(packet) < _HEADER.size:
        raise DnsFormatError("shorter than a DNS header")
    rid, flags, _, ancount, _, _ = _HEADER.unpack_from(packet)
    if rid != query_id or not flags & _FLAG_RESPONSE:
        raise DnsFormatError("not the response to our query")
    if ancount == 0 or flags & 0xF:
        return None
    _, _, _, end = _read_question(packet)
    if end + 16 > len(packet):
        raise DnsFormatError("answer record cut short")
    rtype, _, _, rdlength = struct.unpack_from("!HHIH", packet, end + 2)
    if rtype != TYPE_A or rdlength != 4:
        return None
    return str(ipaddress.IPv4Address(packet[end + 12 : end + 16]))


__all__ = ["DnsFormatError", "answer", "build_query", "parse_answer"]
