"""SLO room: the embedded metrics store's per-minute rollups and the objectives."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.observability.metrics import BUCKETS_MS

# One column per histogram bucket (each bound, then +Inf), so windows sum in SQL.
BUCKET_FIELDS: tuple[str, ...] = tuple(f"b{i:02d}" for i in range(len(BUCKETS_MS) + 1))


class MetricRollup(models.Model):
    """One process's requests for one minute, version, endpoint, method, status class and
    traffic (customer, probe or rehearsal: see portal.models.Traffic).

    Each process upserts its own cumulative rows, so a flush is idempotent and no two
    processes ever write the same row; queries sum across processes.
    """

    process = models.CharField(max_length=100)
    minute = models.DateTimeField()
    version = models.CharField(max_length=64)
    endpoint = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    status_class = models.CharField(max_length=4, help_text="2xx, 3xx, 4xx, 429 or 5xx")
    traffic = models.CharField(max_length=10, default="customer")
    count = models.BigIntegerField(default=0)
    sum_ms = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "process",
                    "minute",
                    "version",
                    "endpoint",
                    "method",
                    "status_class",
                    "traffic",
                ],
                name="metricrollup_unique_cell",
            )
        ]
        indexes = [models.Index(fields=["minute", "endpoint", "version"], name="rollup_window")]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.method} {self.endpoint} {self.status_class}"


for _field in BUCKET_FIELDS:
    MetricRollup.add_to_class(_field, models.BigIntegerField(default=0))


class SLObjective(models.Model):
    """A service level objective: `target` of requests are good over `period_days`.

    latency: good = answered within `threshold_ms` (a histogram bucket bound, so exact).
    availability: good = not a 5xx (rate-limit 429s are expected, not errors).
    """

    class Kind(models.TextChoices):
        LATENCY = "latency", "Latency"
        AVAILABILITY = "availability", "Availability"

    name = models.CharField(max_length=100, unique=True)
    endpoint = models.CharField(
        max_length=200,
        blank=True,
        help_text="Endpoint label, e.g. /v*/contacts; blank: every API endpoint (/v*/…).",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    threshold_ms = models.FloatField(null=True, blank=True)
    target = models.FloatField(
        validators=[MinValueValidator(0.5), MaxValueValidator(0.99999)],
        help_text="Fraction of good requests, e.g. 0.95 for 'p95 under the threshold'.",
    )
    window_seconds = models.PositiveIntegerField(
        default=900, help_text="The window the gate and the report judge by default."
    )
    period_days = models.PositiveIntegerField(default=28)
    min_samples = models.PositiveIntegerField(
        default=50, help_text="Fewer requests than this in a window: insufficient data."
    )
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["endpoint", "kind", "target"]
        verbose_name = "SLO objective"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.LATENCY:
            if self.threshold_ms is None:
                raise ValidationError({"threshold_ms": "Latency objectives need a threshold."})
            if self.threshold_ms not in BUCKETS_MS:
                bounds = ", ".join(f"{b:g}" for b in BUCKETS_MS)
                raise ValidationError(
                    {"threshold_ms": f"Must be a histogram bucket bound: {bounds}."}
                )
        elif self.threshold_ms is not None:
            raise ValidationError({"threshold_ms": "Only latency objectives have a threshold."})


# --- Rollouts -------------------------------------------------------------------------------
