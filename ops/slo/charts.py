"""Time-series line charts rendered server-side as accessible SVG: no chart library, no
JavaScript and no CDN, nothing a Content-Security-Policy of 'self' would block.

Every data point is a `<circle class="pt">` with its value in `data-value` and a `<title>`
tooltip, so a person can hover it and a browser test can count it. A gap in the data (a step
with no requests) breaks the line instead of drawing zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 72, 14, 12, 30
_ids = itertools.count(1)  # unique element ids for aria-labelledby


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # a class in console.css: the line's colour and dash pattern
    points: Sequence[tuple[datetime, float | None]]

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points if v is not None]


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float
    css: str = "t-target"


@dataclass
class Chart:
    title: str
    unit: str
    series: list[Series]
    thresholds: list[Threshold] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    floor_max: float = 0.0  # the y axis reaches at least this high

    @property
    def has_data(self) -> bool:
        return any(s.values for s in self.series)

    @property
    def point_count(self) -> int:
        return sum(len(s.values) for s in self.series)

    def svg(self) -> SafeString:
        return render(self)


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= factor * power * 1.0000001:
            return factor * power
    return 10.0 * power


def format_value(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.3g}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.2g} ms"
    if unit == "x":
        return f"{value:.3g}x"
    return f"{value:.3g} {unit}".strip()


def axis_value(value: float, unit: str) -> str:
    """A tick label: the number alone (the caption names the unit), at most six characters,
    so it fits left of the plot at any size; percent and ratios keep their short sign."""
    text = f"{value / 1000:.3g}k" if abs(value) >= 1000 else f"{value:.3g}"
    return text + {"%": "%", "x": "x"}.get(unit, "")


def render(chart: Chart) -> SafeString:
    times = [t for s in chart.series for t, _ in s.points]
    start = chart.start or (min(times) if times else None)
    end = chart.end or (max(times) if times else None)
    values = [v for s in chart.series for v in s.values] + [t.value for t in chart.thresholds]
    top = nice_max(max([chart.floor_max, *values]) if values else 1.0)
    # Below zero only when a value is (an overspent error budget).
    bottom = -nice_max(-min(values)) if values and min(values) < 0 else 0.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    span = (end - start).total_seconds() if start and end and end > start else 1.0

    def x(when: datetime) -> float:
        offset = (when - start).total_seconds() if start else 0.0
        return LEFT + plot_w * offset / span

    def y(value: float) -> float:
        clipped = max(bottom, min(value, top))
        return TOP + plot_h * (top - clipped) / (top - bottom)

    fmt: Callable[[float], str] = lambda v: format_value(v, chart.unit)  # noqa: E731
    title_id = f"chart-{next(_ids)}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id}" preserveAspectRatio="xMidYMid meet" '
        f'data-points="{chart.point_count}">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
    ]
    for i in range(5):  # horizontal grid lines with their values
        level = bottom + (top - bottom) * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" '
            f'y2="{y(level):.1f}"/><text class="axis" x="{LEFT - 6}" y="{y(level) + 4:.1f}" '
            f'text-anchor="end">{escape(axis_value(level, chart.unit))}</text>'
        )
    if start and end:
        for i in range(5):  # time labels along the bottom
            when = start + (end - start) * i / 4
            anchor = "start" if i == 0 else "end" if i == 4 else "middle"
            parts.append(
                f'<text class="axis" x="{x(when):.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="{anchor}">{when:%H:%M}</text>'
            )
    for threshold in chart.thresholds:
        parts.append(
            f'<line class="{threshold.css}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{y(threshold.value):.1f}" y2="{y(threshold.value):.1f}">'
            f"<title>{escape(threshold.label)}</title></line>"
        )
    for series in chart.series:
        segment: list[str] = []
        segments: list[list[str]] = []
        for when, value in series.points:
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(when):.1f},{y(value):.1f}")
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) > 1:
                parts.append(f'<polyline class="line {series.css}" points="{" ".join(points)}"/>')
        for when, value in series.points:
            if value is None:
                continue
            label = f"{when:%H:%M} {series.label}: {fmt(value)}"
            parts.append(
                f'<circle class="pt {series.css}" cx="{x(when):.1f}" cy="{y(value):.1f}" r="3" '
                f'data-value="{value:.6g}"><title>{escape(label)}</title></circle>'
            )
    if not chart.has_data:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" '
            'text-anchor="middle">Insufficient data: no requests in this window</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it is escaped above
