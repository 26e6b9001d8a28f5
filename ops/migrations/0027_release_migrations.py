"""Releases record their migration state; plans can apply migrations before phase 1."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0026_rollup_traffic'),
    ]

    operations = [
        migrations.AddField(
            model_name='release',
            name='migrations',
            field=models.JSONField(blank=True, editable=False, help_text="The release's migration state, recorded by its own code (`rollout record-release`): the migrations it applies on top of the database, their SQL and the migration gate's findings.", null=True),
        ),
        migrations.AddField(
            model_name='rolloutplan',
            name='migrate_commands',
            field=models.JSONField(blank=True, db_default=models.Value([], models.JSONField()), default=list, help_text="Apply the release's migrations (e.g. its migrate Job), run by `start` once the migration gate passes and before any traffic moves."),
        ),
    ]
