"""The seeded plans judge a release's migrations before any traffic moves: the
`migrations_safe` gate in phase 1 (ops/rollouts/migration_gate.py runs it, with stable's smoke
on the migrated database, before the phase's weight is set)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

DESCRIPTION = "Migrations safe for stable and applied; stable's smoke passes on them"


def seed(apps: Any, schema_editor: Any) -> None:
    phase_model = apps.get_model("ops", "RolloutPhase")
    for phase in phase_model.objects.filter(plan__name__in=["default", "kubernetes"], order=1):
        if phase.gates.filter(kind="migrations_safe").exists():
            continue
        phase.gates.create(order=0, kind="migrations_safe", params={}, description=DESCRIPTION)


def unseed(apps: Any, schema_editor: Any) -> None:
    apps.get_model("ops", "Gate").objects.filter(
        kind="migrations_safe", phase__plan__name__in=["default", "kubernetes"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0027_release_migrations")]
    operations = [migrations.RunPython(seed, unseed)]
