"""The API's one time format: RFC 3339, UTC, milliseconds, `Z`, whatever zone a value is in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from portal.formats import rfc3339

ZONES = st.one_of(
    st.just(UTC),
    st.just(ZoneInfo("UTC")),
    st.sampled_from(
        [ZoneInfo("Europe/Paris"), ZoneInfo("America/St_Johns"), ZoneInfo("Asia/Kolkata")]
    ),
    st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)


@given(
    moment=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30)),
    zone=ZONES,
)
def test_any_aware_time_is_written_in_utc_with_milliseconds(moment: datetime, zone: object) -> None:
    aware = moment.replace(tzinfo=zone)  # type: ignore[arg-type]
    text = rfc3339(aware)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    back = datetime.fromisoformat(text)
    # The same instant, truncated to the millisecond.
    assert timedelta(0) <= aware - back < timedelta(milliseconds=1)


def test_a_database_value_is_written_as_is() -> None:
    assert rfc3339(datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "2026-01-02T03:04:05.999Z"
