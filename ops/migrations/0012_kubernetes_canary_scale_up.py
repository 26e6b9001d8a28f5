"""The kubernetes plan scales the canary back up before deploying to it: cleanup and rollback
leave it at 0 replicas, so without this the next rollout's canary would have no pods."""

from __future__ import annotations

from typing import Any

from django.db import migrations

SCALE_UP = "kubectl scale deployment portal-api-canary --replicas=1"


def add(apps: Any, schema_editor: Any) -> None:
    phase = (
        apps.get_model("ops", "RolloutPhase")
        .objects.filter(plan__name="kubernetes", order=1)
        .first()
    )
    if phase is not None and SCALE_UP not in phase.commands:
        phase.commands = [*phase.commands[:1], SCALE_UP, *phase.commands[1:]]
        phase.save(update_fields=["commands"])


def remove(apps: Any, schema_editor: Any) -> None:
    phase = (
        apps.get_model("ops", "RolloutPhase")
        .objects.filter(plan__name="kubernetes", order=1)
        .first()
    )
    if phase is not None:
        phase.commands = [c for c in phase.commands if c != SCALE_UP]
        phase.save(update_fields=["commands"])


class Migration(migrations.Migration):
    dependencies = [("ops", "0011_operate_permission")]
    operations = [migrations.RunPython(add, remove)]
