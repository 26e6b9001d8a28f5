"""Each tenant's storage usage in one row, counted from the files it already has."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def count_usage(apps: Any, schema_editor: Any) -> None:
    JobFile = apps.get_model("files", "JobFile")
    StorageUsage = apps.get_model("files", "StorageUsage")
    totals = JobFile.objects.values("tenant_id").annotate(
        used_bytes=models.Sum("size"), used_files=models.Count("pk")
    )
    StorageUsage.objects.bulk_create(
        [
            StorageUsage(tenant_id=row["tenant_id"], bytes=row["used_bytes"], files=row["used_files"])
            for row in totals
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('files', '0001_initial'),
        ('portal', '0004_storage_quotas'),
    ]

    operations = [
        migrations.CreateModel(
            name='StorageUsage',
            fields=[
                ('tenant', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='storage_usage', serialize=False, to='portal.tenant')),
                ('bytes', models.BigIntegerField(default=0)),
                ('files', models.IntegerField(default=0)),
            ],
            options={
                'verbose_name_plural': 'storage usage',
            },
        ),
        migrations.RunPython(count_usage, migrations.RunPython.noop),
    ]
