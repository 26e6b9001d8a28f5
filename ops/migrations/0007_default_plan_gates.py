"""The seed log's checks, as the default plan's gates (editable in the admin)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

# phase order -> [(kind, params, description)]
GATES: dict[int, list[tuple[str, dict[str, Any], str]]] = {
    1: [
        ("canary_health", {}, "Canary health 200 with the new version"),
        ("latency", {"endpoint": "/v*/health", "quantile": 0.95, "threshold_ms": 50,
                     "window_seconds": 300}, "Health p95 < 50 ms (5 m)"),
        ("error_rate", {"max_rate": 0.01, "window_seconds": 300}, "Error rate < 1% (5 m)"),
        ("breakers_closed", {}, "All circuit breakers closed"),
    ],
    2: [
        ("latency", {"endpoint": "/v*/contacts", "quantile": 0.95, "threshold_ms": 300,
                     "window_seconds": 900}, "Contacts p95 < 300 ms (15 m)"),
        ("latency", {"endpoint": "/v*/jobs", "quantile": 0.95, "threshold_ms": 400,
                     "window_seconds": 900}, "Jobs p95 < 400 ms (15 m)"),
        ("latency", {"endpoint": "/v*/jobs/{jobId}/files", "quantile": 0.95, "threshold_ms": 500,
                     "window_seconds": 900}, "Files p95 < 500 ms (15 m)"),
        ("relative_latency", {"endpoint": "/v*/contacts", "max_ratio": 1.2,
                              "window_seconds": 900}, "Contacts p95 within 1.2x of stable"),
        ("files_contract", {}, "Signed URLs ≤ 15 min, no-store, 120/min limit"),
        ("rate_limiter", {}, "429 + Retry-After past the limit"),
    ],
    3: [
        ("load_test", {"iterations": 300}, "Load test ≥ 99% success (429s excluded)"),
        ("metrics_export", {}, "Prometheus metrics exported"),
        ("cors_refusal", {}, "A disallowed CORS origin is refused"),
        ("tenant_isolation", {}, "A cross-tenant read is 404"),
    ],
    4: [
        ("smoke", {}, "Smoke test of every endpoint"),
        ("instances_up", {}, "Every instance up"),
        ("latency", {"endpoint": "/v*/health", "quantile": 0.99, "threshold_ms": 100,
                     "window_seconds": 900}, "Health p99 < 100 ms"),
        ("latency", {"endpoint": "/v*/contacts", "quantile": 0.99, "threshold_ms": 600,
                     "window_seconds": 900}, "Contacts p99 < 600 ms"),
        ("latency", {"endpoint": "/v*/jobs", "quantile": 0.99, "threshold_ms": 800,
                     "window_seconds": 900}, "Jobs p99 < 800 ms"),
        ("latency", {"endpoint": "/v*/jobs/{jobId}/files", "quantile": 0.99,
                     "threshold_ms": 1000, "window_seconds": 900}, "Files p99 < 1000 ms"),
    ],
}


def seed(apps: Any, schema_editor: Any) -> None:
    phase_model = apps.get_model("ops", "RolloutPhase")
    gate_model = apps.get_model("ops", "Gate")
    for order, gates in GATES.items():
        phase = phase_model.objects.filter(plan__name="default", order=order).first()
        if phase is None or phase.gates.exists():
            continue
        for position, (kind, params, description) in enumerate(gates, start=1):
            gate_model.objects.create(
                phase=phase, order=position, kind=kind, params=params, description=description
            )


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("ops", "Gate").objects.filter(phase__plan__name="default").delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0006_gates")]
    operations = [migrations.RunPython(seed, unseed)]
