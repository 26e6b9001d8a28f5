"""The kubernetes plan's rollback restores production's previous image (`{baseline_image}`)
before scaling the canary down: once phase 4 has set the new image on prod, scaling the canary
to zero alone would leave production on the failed release. Setting prod to the image it
already runs (a rollback before phase 4) changes nothing."""

from __future__ import annotations

from typing import Any

from django.db import migrations

RESTORE = [
    "kubectl set image deployment/portal-api-prod portal-api={baseline_image}",
    "kubectl rollout status deployment/portal-api-prod --timeout=300s",
]


def add(apps: Any, schema_editor: Any) -> None:
    plan = apps.get_model("ops", "RolloutPlan").objects.filter(name="kubernetes").first()
    if plan is not None and RESTORE[0] not in plan.rollback_commands:
        plan.rollback_commands = [*RESTORE, *plan.rollback_commands]
        plan.save(update_fields=["rollback_commands"])


def remove(apps: Any, schema_editor: Any) -> None:
    plan = apps.get_model("ops", "RolloutPlan").objects.filter(name="kubernetes").first()
    if plan is not None:
        plan.rollback_commands = [c for c in plan.rollback_commands if c not in RESTORE]
        plan.save(update_fields=["rollback_commands"])


class Migration(migrations.Migration):
    dependencies = [("ops", "0013_rollout_probe_errors")]
    operations = [migrations.RunPython(add, remove)]
