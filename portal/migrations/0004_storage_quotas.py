"""Plans and per-tenant storage limits: nullable columns and a new table, safe to add while the
previous release runs."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0003_tenant_traffic'),
    ]

    operations = [
        migrations.CreateModel(
            name='Plan',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('slug', models.SlugField(unique=True)),
                ('name', models.CharField(max_length=200)),
                ('storage_max_bytes', models.BigIntegerField(blank=True, help_text='Bytes of job files a tenant may keep. Blank: STORAGE_QUOTA_BYTES.', null=True, validators=[django.core.validators.MinValueValidator(0)])),
                ('storage_max_files', models.IntegerField(blank=True, help_text='Job files a tenant may keep. Blank: STORAGE_QUOTA_FILES.', null=True, validators=[django.core.validators.MinValueValidator(0)])),
            ],
            options={
                'ordering': ['slug'],
            },
        ),
        migrations.AddField(
            model_name='tenant',
            name='storage_max_bytes',
            field=models.BigIntegerField(blank=True, help_text="This tenant's own limit on stored bytes. Blank: the plan's.", null=True, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='tenant',
            name='storage_max_files',
            field=models.IntegerField(blank=True, help_text="This tenant's own limit on stored files. Blank: the plan's.", null=True, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='tenant',
            name='plan',
            field=models.ForeignKey(blank=True, help_text='Sets the storage quota. Blank: STORAGE_QUOTA_BYTES and STORAGE_QUOTA_FILES.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tenants', to='portal.plan'),
        ),
    ]
