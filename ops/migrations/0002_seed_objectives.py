"""The seed log's SLOs, as data operators can edit."""

from __future__ import annotations

from typing import Any

from django.db import migrations

# (name, endpoint, kind, threshold ms, target, window seconds)
SEED = [
    ("Health p95 < 50 ms", "/v*/health", "latency", 50, 0.95, 300),
    ("Health p99 < 100 ms", "/v*/health", "latency", 100, 0.99, 300),
    ("Contacts p95 < 300 ms", "/v*/contacts", "latency", 300, 0.95, 900),
    ("Contacts p99 < 600 ms", "/v*/contacts", "latency", 600, 0.99, 900),
    ("Jobs p95 < 400 ms", "/v*/jobs", "latency", 400, 0.95, 900),
    ("Jobs p99 < 800 ms", "/v*/jobs", "latency", 800, 0.99, 900),
    ("Files p95 < 500 ms", "/v*/jobs/{jobId}/files", "latency", 500, 0.95, 900),
    ("Files p99 < 1000 ms", "/v*/jobs/{jobId}/files", "latency", 1000, 0.99, 900),
    ("Error rate < 1%", "", "availability", None, 0.99, 300),
    ("Success >= 99.9%", "", "availability", None, 0.999, 900),
]


def seed(apps: Any, schema_editor: Any) -> None:
    objective = apps.get_model("ops", "SLObjective")
    for name, endpoint, kind, threshold, target, window in SEED:
        objective.objects.get_or_create(
            name=name,
            defaults={
                "endpoint": endpoint,
                "kind": kind,
                "threshold_ms": threshold,
                "target": target,
                "window_seconds": window,
                "description": "From the v1.0.0 deployment log.",
            },
        )


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("ops", "SLObjective").objects.filter(name__in=[s[0] for s in SEED]).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0001_metrics_and_slos")]
    operations = [migrations.RunPython(seed, unseed)]
