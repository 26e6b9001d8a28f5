"""Finer latency buckets at the low end (1, 2, 3, 4, 7.5 and 15 ms are new bounds).

Each stored row's counts move to the bucket of the same upper bound in the new layout, in one
UPDATE per table (every right-hand side reads the row as it was). The old first bucket
(0, 5] cannot be split: its counts land in (4, 5], so quantiles of minutes recorded before
this migration read a little high at the low end, never low. The bounds are written out here,
not imported: a migration must not change when the code does."""

from typing import Any

from django.db import migrations, models
from django.db.models import F

OLD = (5, 10, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1500, 2500, 5000,
       10000)  # fmt: skip
NEW = (1, 2, 3, 4, 5, 7.5, 10, 15, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 800,
       1000, 1500, 2500, 5000, 10000)  # fmt: skip
INF = float("inf")


def _field(index: int) -> str:
    return f"b{index:02d}"


def forwards(apps: Any, schema_editor: Any) -> None:
    rollup = apps.get_model("ops", "MetricRollup")
    new_index = {bound: i for i, bound in enumerate((*NEW, INF))}
    moves = {_field(new_index[bound]): F(_field(i)) for i, bound in enumerate((*OLD, INF))}
    cleared = {_field(i): 0 for i in range(len(NEW) + 1) if _field(i) not in moves}
    rollup.objects.update(**moves, **cleared)


def backwards(apps: Any, schema_editor: Any) -> None:
    rollup = apps.get_model("ops", "MetricRollup")
    old_bounds = (*OLD, INF)
    sums: dict[str, Any] = {}
    for i, bound in enumerate((*NEW, INF)):
        target = _field(next(j for j, old in enumerate(old_bounds) if bound <= old))
        sums[target] = sums[target] + F(_field(i)) if target in sums else F(_field(i))
    rollup.objects.update(**sums)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0022_controller_heartbeat"),
    ]

    operations = [
        # (the new columns, then the counts moved to them)
        migrations.AddField(
            model_name="metricrollup",
            name="b20",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="metricrollup",
            name="b21",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="metricrollup",
            name="b22",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="metricrollup",
            name="b23",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="metricrollup",
            name="b24",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="metricrollup",
            name="b25",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(forwards, backwards),
    ]
