"""Parsers for conntrack text: flow lines, whole captures, and merged stderr.

Only the reference parsers are re-exported here; the fast path (``ctdiag.parsing.fast``) and
the stats/sysctl/kernel-log parsers are imported from their own modules.
"""

from __future__ import annotations

from ctdiag.parsing.entries import (
    is_event_line,
    normalize_address,
    parse_entry_line,
    parse_event_line,
)
from ctdiag.parsing.listing import looks_like_events, parse_events, parse_listing
from ctdiag.parsing.trailer import StrippedText, Trailer, strip_stderr

__all__ = [
    "StrippedText",
    "Trailer",
    "is_event_line",
    "looks_like_events",
    "normalize_address",
    "parse_entry_line",
    "parse_event_line",
    "parse_events",
    "parse_listing",
    "strip_stderr",
]
