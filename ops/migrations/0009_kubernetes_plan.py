"""The seed's production plan: the default plan's phases and gates plus its kubectl steps."""

from __future__ import annotations

from typing import Any

from django.db import migrations

COMMANDS = {
    1: [
        "kubectl set image deployment/portal-api-canary portal-api={image}",
        "kubectl rollout status deployment/portal-api-canary --timeout=300s",
    ],
    4: [
        "kubectl set image deployment/portal-api-prod portal-api={image}",
        "kubectl rollout status deployment/portal-api-prod --timeout=300s",
    ],
}
CLEANUP = ["kubectl scale deployment portal-api-canary --replicas=0"]
ROLLBACK = ["kubectl scale deployment portal-api-canary --replicas=0"]


def seed(apps: Any, schema_editor: Any) -> None:
    plan_model = apps.get_model("ops", "RolloutPlan")
    default = plan_model.objects.filter(name="default").first()
    if default is None or plan_model.objects.filter(name="kubernetes").exists():
        return
    plan = plan_model.objects.create(
        name="kubernetes",
        description="The seed's production plan: kubectl deploys, 5/25/50/100, cleanup.",
        cleanup_commands=CLEANUP,
        rollback_commands=ROLLBACK,
    )
    for phase in default.phases.order_by("order"):
        copy = plan.phases.create(
            order=phase.order,
            weight=phase.weight,
            bake_seconds=phase.bake_seconds,
            commands=COMMANDS.get(phase.order, []),
        )
        for gate in phase.gates.all():
            copy.gates.create(
                order=gate.order, kind=gate.kind, params=gate.params, description=gate.description
            )


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("ops", "RolloutPlan").objects.filter(name="kubernetes").delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0008_commands_and_status")]
    operations = [migrations.RunPython(seed, unseed)]
