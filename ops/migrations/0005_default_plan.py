"""The seed's plan as data: 5% → 25% → 50% → 100%, bake times from the deployment log."""

from __future__ import annotations

from typing import Any

from django.db import migrations

# (weight, minimum bake seconds): the log's phases ran 25, 40, 60 and 55 minutes.
PHASES = [(5, 1200), (25, 2400), (50, 3600), (100, 3300)]


def seed(apps: Any, schema_editor: Any) -> None:
    plan_model = apps.get_model("ops", "RolloutPlan")
    phase_model = apps.get_model("ops", "RolloutPhase")
    plan, created = plan_model.objects.get_or_create(
        name="default",
        defaults={
            "description": "The v1.0.0 deployment log's canary: 5/25/50/100 with SLO gates.",
            "is_default": True,
        },
    )
    if created:
        for order, (weight, bake) in enumerate(PHASES, start=1):
            phase_model.objects.create(plan=plan, order=order, weight=weight, bake_seconds=bake)


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("ops", "RolloutPlan").objects.filter(name="default").delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0004_rollouts")]
    operations = [migrations.RunPython(seed, unseed)]
