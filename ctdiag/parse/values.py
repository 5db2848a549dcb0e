"""Field values as conntrack prints them: decimal and hex numbers, IPv4 and IPv6 addresses.

Pure. Each reader raises :class:`BadField` with the reason; the line parsers
(:mod:`ctdiag.parse.entries`) add the line number and text. Addresses come out in the one
normal text form entries store (IPv6 compressed, RFC 5952; IPv4-mapped as
``::ffff:a.b.c.d``), whatever their spelling.
"""

from __future__ import annotations

import ipaddress

from ctdiag.errors import ParseError

U8, U16, U64 = 0xFF, 0xFFFF, 0xFFFFFFFFFFFFFFFF
#: Reasons quote at most this many characters of a token (a hostile 1 MB token must not
#: make a 1 MB error message).
QUOTE_LIMIT = 80
_ADDRESSES: dict[str, str] = {}  # raw text -> normalised; tables repeat addresses heavily


class BadField(Exception):
    """What is wrong with a field (internal to the parsers, which raise ParseError with the
    line number and text)."""


def quote(token: str) -> str:
    """``repr`` of a token for a reason, cut to :data:`QUOTE_LIMIT` characters."""
    if len(token) <= QUOTE_LIMIT:
        return repr(token)
    return f"{token[:QUOTE_LIMIT]!r}... ({len(token):,} characters)"


def decimal(value: str, key: str, limit: int) -> int:
    # isdigit alone accepts superscripts and other Unicode digits; int() accepts "1_0" and "+1".
    if not (value.isdigit() and value.isascii()):
        raise BadField(f"{key}: not a decimal number: {quote(value)}")
    # int() refuses more than 4,300 digits (ValueError); no limit here has more than 20.
    digits = value if len(value) <= 20 else value.lstrip("0") or "0"
    number = int(digits) if len(digits) <= 20 else limit + 1
    if number > limit:
        raise BadField(f"{key}={quote(value)} out of range (max {limit})")
    return number


def hex16(value: str, key: str) -> int:
    digits = value[2:]
    if (
        value[:2] not in ("0x", "0X")
        or not digits
        or not digits.isascii()
        or digits.lstrip("0123456789abcdefABCDEF")
    ):
        raise BadField(f"{key}: not a 0x hex number: {quote(value)}")
    number = int(digits, 16)
    if number > U16:
        raise BadField(f"{key}={quote(value)} out of range (max 0xffff)")
    return number


def address(value: str) -> str:
    known = _ADDRESSES.get(value)
    if known is not None:
        return known
    try:
        if ":" in value:
            if "%" in value:  # ipaddress accepts scope ids; conntrack never prints them
                raise ValueError(value)
            v6 = ipaddress.IPv6Address(value)
            # Python < 3.13 prints mapped addresses in hex; glibc and the spec use dotted form.
            mapped = v6.ipv4_mapped
            normal = f"::ffff:{mapped}" if mapped is not None else str(v6)
        else:
            # Hand-rolled: ipaddress costs 3 us per call and most addresses are IPv4.
            parts = value.split(".")
            if len(parts) != 4 or not all(
                p.isdigit() and p.isascii() and len(p) <= 3 and (p == "0" or p[0] != "0")
                and int(p) <= 255 for p in parts
            ):  # fmt: skip
                raise ValueError(value)
            normal = value
    except ValueError:
        raise BadField(f"invalid address {quote(value)}") from None
    if len(_ADDRESSES) > 100_000:
        _ADDRESSES.clear()
    _ADDRESSES[value] = normal
    return normal


def normalize_address(value: str) -> str:
    """The normal text form of an address, as entries store it.

    Raises:
        ParseError: not an IPv4 or IPv6 address.
    """
    try:
        return address(value)
    except BadField as bad:
        raise ParseError(str(bad), text=value) from None
