"""The SLO dashboard's numbers: per endpoint, the stable and the canary version side by side,
over a chosen window, from whichever metrics source is configured (ops/slo/sources.py).

Everything is derived from the same counts the gates and `slo_report` use, so the dashboard,
the rollout gates and the report never disagree about the same traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings

from ops.models.slo import SLObjective
from ops.slo.charts import Chart, Series, Threshold
from ops.slo.objectives import SLOResult, burn_rate, evaluate, good
from ops.slo.sources import Counts, MetricsSource, Point, Window, default_source

# Window choices: (length, step). Steps are whole minutes, the embedded store's resolution.
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "5m": (timedelta(minutes=5), timedelta(minutes=1)),
    "15m": (timedelta(minutes=15), timedelta(minutes=1)),
    "1h": (timedelta(hours=1), timedelta(minutes=2)),
    "6h": (timedelta(hours=6), timedelta(minutes=10)),
    "24h": (timedelta(hours=24), timedelta(minutes=30)),
}
DEFAULT_WINDOW = "1h"

TITLES = {
    "": "All API endpoints",
    "/v*/health": "Health",
    "/v*/contacts": "Contacts",
    "/v*/jobs": "Jobs",
    "/v*/jobs/{jobId}/files": "Job files",
}
# Burn rates worth drawing as lines: budget-neutral, and the fast-burn page of BURN_RATE_ALERTS.
BURN_LINES = (
    Threshold("1x burns the budget exactly over the period", 1.0, "t-neutral"),
    Threshold("14.4x pages (fast burn)", 14.4),
)


class MemoSource:
    """Answers each distinct question once per page: objectives of one endpoint share their
    windows, and with Prometheus each answer is three HTTP queries."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source
        self.name = source.name
        self._counts: dict[Window, Counts] = {}
        self._series: dict[tuple[Window, timedelta], list[Point]] = {}

    def counts(self, window: Window) -> Counts:
        if window not in self._counts:
            self._counts[window] = self.source.counts(window)
        return self._counts[window]

    def series(self, window: Window, step: timedelta) -> list[Point]:
        key = (window, step)
        if key not in self._series:
            self._series[key] = self.source.series(window, step)
        return self._series[key]


@dataclass(frozen=True)
class InFlight:
    """The rollout in flight, as the page shows it."""

    id: int
    weight: int


@dataclass(frozen=True)
class Versions:
    stable: str
    canary: str | None
    rollout: InFlight | None = None


def stable_only(stable: str = "", canary: str = "") -> Versions:
    """Without a rollouts room to ask: the running release, beside a canary only if named."""
    stable = stable or settings.APP_VERSION
    return Versions(stable=stable, canary=canary if canary and canary != stable else None)


@dataclass
class Lane:
    """One version's traffic on one endpoint."""

    role: str  # stable or canary
    version: str
    points: list[Point]
    totals: Counts
    results: list[SLOResult]

    @property
    def error_rate(self) -> float | None:
        return self.totals.error_rate

    def quantile(self, q: float) -> float | None:
        return self.totals.quantile(q)


@dataclass
class Panel:
    endpoint: str
    objectives: list[SLObjective]
    lanes: list[Lane]
    charts: list[Chart] = field(default_factory=list)

    @property
    def title(self) -> str:
        return TITLES.get(self.endpoint, self.endpoint)

    @property
    def anchor(self) -> str:
        return "all" if not self.endpoint else self.endpoint.strip("/*v").replace("/", "-")

    @property
    def rows(self) -> list[tuple[SLObjective, list[SLOResult]]]:
        """Each objective with its result per lane, for the side-by-side table."""
        return [
            (o, [lane.results[i] for lane in self.lanes]) for i, o in enumerate(self.objectives)
        ]


@dataclass
class Dashboard:
    window_key: str
    window: timedelta
    step: timedelta
    at: datetime
    source: str
    versions: Versions
    panels: list[Panel]

    @property
    def point_count(self) -> int:
        return sum(chart.point_count for panel in self.panels for chart in panel.charts)

    @property
    def step_label(self) -> str:
        return f"{int(self.step.total_seconds() // 60)}-minute steps"


def _per_step(
    points: list[Point], value: Callable[[Counts], float | None]
) -> list[tuple[datetime, float | None]]:
    return [(p.end, value(p.counts)) for p in points]


def _budget_series(
    objective: SLObjective, period: Counts, points: list[Point]
) -> list[tuple[datetime, float | None]]:
    """Error budget left (%) at the end of each step: the period's counts at the end of the
    window, less the steps that came after. Negative means overspent."""
    out: list[tuple[datetime, float | None]] = []
    requests, bad = period.requests, period.requests - good(objective, period)
    for point in reversed(points):
        allowed = (1 - objective.target) * requests
        value = None if requests < objective.min_samples or allowed <= 0 else 1 - bad / allowed
        out.append((point.end, None if value is None else value * 100))
        requests -= point.counts.requests
        bad -= point.counts.requests - good(objective, point.counts)
    return list(reversed(out))


def _quantile(q: float, counts: Counts) -> float | None:
    return counts.quantile(q)


def _charts(
    panel: Panel,
    memo: MemoSource,
    objectives: list[SLObjective],
    step: timedelta,
    start: datetime,
    end: datetime,
    at: datetime,
) -> list[Chart]:
    """A panel's charts: request rate, error rate, latency per lane, burn rate, budget."""
    span = (start, end)
    return [
        _rate_chart(panel, step.total_seconds(), span),
        _error_chart(panel, objectives, span),
        *(_latency_chart(panel, lane, span) for lane in panel.lanes),
        *_budget_charts(panel, memo, at, span),
    ]


def _lane_series(panel: Panel, value: Callable[[Counts], float | None]) -> list[Series]:
    return [
        Series(f"{lane.role} {lane.version}", f"s-{lane.role}", _per_step(lane.points, value))
        for lane in panel.lanes
    ]


def _rate_chart(panel: Panel, step_seconds: float, span: tuple[datetime, datetime]) -> Chart:
    return Chart(
        title=f"{panel.title}: request rate",
        unit="req/s",
        series=_lane_series(panel, lambda c: c.requests / step_seconds),
        start=span[0],
        end=span[1],
    )


def _error_chart(
    panel: Panel, objectives: list[SLObjective], span: tuple[datetime, datetime]
) -> Chart:
    availability = [
        o
        for o in objectives
        if o.kind == SLObjective.Kind.AVAILABILITY and o.endpoint in ("", panel.endpoint)
    ]
    return Chart(
        title=f"{panel.title}: error rate (5xx)",
        unit="%",
        series=_lane_series(panel, lambda c: 100 * c.errors / c.requests if c.requests else None),
        thresholds=[
            Threshold(f"{o.name}: {100 * (1 - o.target):g}%", 100 * (1 - o.target))
            for o in availability
        ],
        start=span[0],
        end=span[1],
    )


def _latency_chart(panel: Panel, lane: Lane, span: tuple[datetime, datetime]) -> Chart:
    return Chart(
        title=f"{panel.title}: latency, {lane.role} {lane.version}",
        unit="ms",
        series=[
            Series(
                f"p{int(q * 100)}",
                f"q-{int(q * 100)} s-{lane.role}",
                _per_step(lane.points, partial(_quantile, q)),
            )
            for q in (0.5, 0.95, 0.99)
        ],
        thresholds=[
            Threshold(f"{o.name}", o.threshold_ms)
            for o in panel.objectives
            if o.kind == SLObjective.Kind.LATENCY and o.threshold_ms is not None
        ],
        start=span[0],
        end=span[1],
    )


def _budget_charts(
    panel: Panel, memo: MemoSource, at: datetime, span: tuple[datetime, datetime]
) -> list[Chart]:
    burn, budget = [], []
    for index, objective in enumerate(panel.objectives):
        for lane in panel.lanes:
            label = f"{objective.name}, {lane.role} {lane.version}"
            css = f"o-{index % 3} s-{lane.role}"
            burn.append(Series(label, css, _per_step(lane.points, partial(burn_rate, objective))))
            period = Window(
                length=timedelta(days=objective.period_days),
                endpoint=objective.endpoint or None,
                version=lane.version,
                at=at,
            )
            budget.append(
                Series(label, css, _budget_series(objective, memo.counts(period), lane.points))
            )
    return [
        Chart(
            title=f"{panel.title}: burn rate per step",
            unit="x",
            series=burn,
            thresholds=list(BURN_LINES),
            start=span[0],
            end=span[1],
        ),
        Chart(
            title=f"{panel.title}: error budget left in the SLO period",
            unit="%",
            series=budget,
            thresholds=[Threshold("Budget exhausted", 0.0)],
            floor_max=100.0,
            start=span[0],
            end=span[1],
        ),
    ]


def build(
    *,
    window_key: str = DEFAULT_WINDOW,
    versions: Versions,
    source: MetricsSource | None = None,
    at: datetime | None = None,
) -> Dashboard:
    window, step = WINDOWS[window_key]
    at = at or datetime.now(UTC)
    memo = MemoSource(source or default_source())
    objectives = list(SLObjective.objects.filter(is_active=True))
    endpoints = ["", *sorted({o.endpoint for o in objectives if o.endpoint})]
    roles = [("stable", versions.stable)]
    if versions.canary:
        roles.append(("canary", versions.canary))
    panels = []
    for endpoint in endpoints:
        mine = [o for o in objectives if o.endpoint == endpoint]
        lanes = []
        for role, version in roles:
            span = Window(length=window, endpoint=endpoint or None, version=version, at=at)
            results = [evaluate(o, memo, window=window, version=version, at=at) for o in mine]
            lanes.append(Lane(role, version, memo.series(span, step), memo.counts(span), results))
        panels.append(Panel(endpoint=endpoint, objectives=mine, lanes=lanes))
    end = panels[0].lanes[0].points[-1].end if panels and panels[0].lanes[0].points else at
    for panel in panels:
        panel.charts = _charts(panel, memo, objectives, step, end - window, end, at)
    return Dashboard(window_key, window, step, at, memo.name, versions, panels)
