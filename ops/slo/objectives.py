"""SLO math: SLI, attainment, error budget, multiwindow burn rates, and honest verdicts.

Burn-rate alerting follows the SRE workbook's multiwindow pairs: an alert fires only when
both the long and the short window burn faster than the factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ops.models.slo import SLObjective
from ops.slo.sources import Counts, MetricsSource, Window

BURN_RATE_ALERTS: tuple[tuple[str, timedelta, timedelta, float], ...] = (
    ("page-fast", timedelta(hours=1), timedelta(minutes=5), 14.4),
    ("page-slow", timedelta(hours=6), timedelta(minutes=30), 6.0),
    ("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)

SLOVerdict = Literal["met", "violated", "insufficient_data"]
AlertState = Literal["firing", "ok", "insufficient_data"]
MET: SLOVerdict = "met"
VIOLATED: SLOVerdict = "violated"
INSUFFICIENT: SLOVerdict = "insufficient_data"


def good(objective: SLObjective, counts: Counts) -> int:
    if objective.kind == SLObjective.Kind.LATENCY and objective.threshold_ms is not None:
        return counts.under(objective.threshold_ms)
    return counts.requests - counts.errors


def sli(objective: SLObjective, counts: Counts) -> float | None:
    """Fraction of good requests; None when there are too few to judge."""
    if counts.requests < max(1, objective.min_samples):
        return None
    return good(objective, counts) / counts.requests


def burn_rate(objective: SLObjective, counts: Counts) -> float | None:
    value = sli(objective, counts)
    return None if value is None else (1 - value) / (1 - objective.target)


@dataclass
class BurnAlert:
    name: str
    long_window: timedelta
    short_window: timedelta
    factor: float
    long_burn: float | None
    short_burn: float | None

    @property
    def state(self) -> AlertState:
        if self.long_burn is None or self.short_burn is None:
            return "insufficient_data"
        return (
            "firing" if self.long_burn >= self.factor and self.short_burn >= self.factor else "ok"
        )


@dataclass
class SLOResult:
    objective: SLObjective
    source: str
    window: timedelta
    samples: int
    sli: float | None
    verdict: SLOVerdict
    p50: float | None
    p95: float | None
    p99: float | None
    error_rate: float | None
    attainment: float | None
    budget_remaining: float | None
    alerts: list[BurnAlert] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        o = self.objective
        return {
            "objective": o.name,
            "endpoint": o.endpoint or "*",
            "kind": o.kind,
            "threshold_ms": o.threshold_ms,
            "target": o.target,
            "source": self.source,
            "window_seconds": int(self.window.total_seconds()),
            "samples": self.samples,
            "sli": self.sli,
            "verdict": self.verdict,
            "p50_ms": self.p50,
            "p95_ms": self.p95,
            "p99_ms": self.p99,
            "error_rate": self.error_rate,
            "period_days": o.period_days,
            "attainment": self.attainment,
            "error_budget_remaining": self.budget_remaining,
            "burn_rate_alerts": [
                {
                    "name": a.name,
                    "long_window_seconds": int(a.long_window.total_seconds()),
                    "short_window_seconds": int(a.short_window.total_seconds()),
                    "factor": a.factor,
                    "long_burn_rate": a.long_burn,
                    "short_burn_rate": a.short_burn,
                    "state": a.state,
                }
                for a in self.alerts
            ],
        }


def evaluate(
    objective: SLObjective,
    source: MetricsSource,
    *,
    window: timedelta | None = None,
    version: str | None = None,
    at: datetime | None = None,
) -> SLOResult:
    at = at or datetime.now(UTC)
    window = window or timedelta(seconds=objective.window_seconds)

    def counts(length: timedelta) -> Counts:
        return source.counts(
            Window(length=length, endpoint=objective.endpoint or None, version=version, at=at)
        )

    current = counts(window)
    value = sli(objective, current)
    verdict = INSUFFICIENT if value is None else MET if value >= objective.target else VIOLATED
    period = counts(timedelta(days=objective.period_days))
    attainment = sli(objective, period)
    budget = None if attainment is None else 1 - (1 - attainment) / (1 - objective.target)
    alerts = [
        BurnAlert(
            name,
            long,
            short,
            factor,
            burn_rate(objective, counts(long)),
            burn_rate(objective, counts(short)),
        )
        for name, long, short, factor in BURN_RATE_ALERTS
    ]
    return SLOResult(
        objective=objective,
        source=source.name,
        window=window,
        samples=current.requests,
        sli=value,
        verdict=verdict,
        p50=current.quantile(0.5),
        p95=current.quantile(0.95),
        p99=current.quantile(0.99),
        error_rate=current.error_rate,
        attainment=attainment,
        budget_remaining=budget,
        alerts=alerts,
    )
