from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from ops.slo.charts import Chart, Series, Threshold, axis_value, nice_max

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_it_draws_one_point_per_value_and_breaks_the_line_at_gaps() -> None:
    series = Series(
        "canary",
        "s-canary",
        [(at(0), 1.0), (at(1), 2.0), (at(2), None), (at(3), 4.0), (at(4), 5.0)],
    )
    svg = Chart("rate", "req/s", [series]).svg()
    assert svg.count('<circle class="pt s-canary"') == 4
    assert svg.count("<polyline") == 2  # the gap splits the line in two
    assert 'data-points="4"' in svg


def test_it_says_insufficient_data_when_there_is_none() -> None:
    chart = Chart("latency", "ms", [Series("p95", "q-95", [(at(0), None), (at(1), None)])])
    assert not chart.has_data
    assert "Insufficient data" in chart.svg()
    assert "<circle" not in chart.svg()


def test_it_escapes_labels() -> None:
    series = Series("<script>alert(1)</script>", "s-stable", [(at(0), 1.0)])
    svg = Chart("<b>title</b>", "ms", [series], [Threshold("a&b", 2.0)]).svg()
    assert "<script>" not in svg
    assert "&lt;b&gt;title&lt;/b&gt;" in svg
    assert "a&amp;b" in svg


def test_thresholds_stretch_the_axis_and_negative_values_go_below_zero() -> None:
    svg = Chart(
        "budget",
        "%",
        [Series("b", "o-0", [(at(0), -30.0), (at(1), 40.0)])],
        [Threshold("exhausted", 0.0)],
        floor_max=100.0,
    ).svg()
    labels = re.findall(r'text-anchor="end">([^<]+%)</text>', svg)
    assert labels[0] == "-50%"
    assert labels[-1] == "100%"


def test_nice_max_rounds_up_to_a_readable_bound() -> None:
    assert [nice_max(v) for v in (0, 0.7, 1, 3, 240, 1001)] == [1.0, 1.0, 1.0, 5.0, 250.0, 2000.0]


@pytest.mark.parametrize(
    ("value", "unit", "label"),
    [
        (0.15, "req/s", "0.15"),
        (3.75, "req/s", "3.75"),
        (0.125, "%", "0.125%"),
        (1250, "ms", "1.25k"),
        (20000, "ms", "20k"),
        (14.4, "x", "14.4x"),
    ],
)
def test_tick_labels_are_short_and_leave_the_unit_to_the_caption(
    value: float, unit: str, label: str
) -> None:
    assert axis_value(value, unit) == label
    assert len(label) <= 6
