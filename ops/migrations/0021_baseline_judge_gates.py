"""The seeded plans judge canary against stable in every phase (the baseline judge)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

DESCRIPTION = "Canary vs stable, same minutes: Mann-Whitney U on latency, SPRT/Fisher on 5xx"


def seed(apps: Any, schema_editor: Any) -> None:
    phase_model = apps.get_model("ops", "RolloutPhase")
    for phase in phase_model.objects.filter(plan__name__in=["default", "kubernetes"]):
        if phase.gates.filter(kind="baseline").exists():
            continue
        last = max((gate.order for gate in phase.gates.all()), default=0)
        phase.gates.create(order=last + 1, kind="baseline", params={}, description=DESCRIPTION)


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("ops", "Gate").objects.filter(
        kind="baseline", phase__plan__name__in=["default", "kubernetes"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0020_judge_evidence")]
    operations = [migrations.RunPython(seed, unseed)]
