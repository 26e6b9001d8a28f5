"""Time as the API writes it: RFC 3339 in UTC with milliseconds and `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(value: datetime) -> str:
    if value.tzinfo is not UTC:  # the database's values are UTC already
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" → "Z"


def utc_now_ms() -> str:
    """Server-generated "now"."""
    return rfc3339(datetime.now(UTC))
