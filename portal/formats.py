"""Values as the API reads them from clients and writes them back.

Reading: `str.isdigit()` and `int()` accept far more than ASCII digits ("²", "٣", " 7\n",
"1_000"), and `re.match` with `$` accepts a trailing newline. Every number or token read from a
request goes through these helpers instead.

Writing: time is RFC 3339 in UTC with milliseconds and `Z`; sizes are written for people.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DIGITS = re.compile(r"[0-9]+")


def ascii_int(value: str | None, *, max_digits: int = 18) -> int | None:
    """The value as a non-negative integer if it is 1 to `max_digits` ASCII digits, else None."""
    if value is None or not 0 < len(value) <= max_digits or not _DIGITS.fullmatch(value):
        return None
    return int(value)


def is_token(value: str | None, pattern: re.Pattern[str]) -> bool:
    """Whether the whole value matches `pattern` (no trailing newline slips through)."""
    return value is not None and pattern.fullmatch(value) is not None


def size_text(size: int) -> str:
    """A byte size as people read limits: `25 MiB (26,214,400 bytes)`, `10 GiB (…)`."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        amount = size / scale
        if amount >= 1:
            shown = f"{amount:g}" if amount == int(amount) else f"{amount:.1f}"
            return f"{shown} {unit} ({size:,} bytes)"
    return f"{size:,} bytes"


def rfc3339(value: datetime) -> str:
    if value.tzinfo is not UTC:  # the database's values are UTC already
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" → "Z"


def utc_now_ms() -> str:
    """Server-generated "now"."""
    return rfc3339(datetime.now(UTC))
