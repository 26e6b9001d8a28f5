"""Time as the API writes it: RFC 3339 in UTC with milliseconds and `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_ms() -> str:
    """Server-generated "now"."""
    return rfc3339(datetime.now(UTC))
