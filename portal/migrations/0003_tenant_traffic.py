"""Tenants say whose traffic their requests are (customer, probe, rehearsal), so the metrics can
keep the rollout controller's own requests apart from customers'. The controller's probe
tenants, where they exist already, become probe traffic."""

from typing import Any

from django.db import migrations, models

PROBE_TENANTS = ["rollout-probe-a", "rollout-probe-b"]


def label_probe_tenants(apps: Any, schema_editor: Any) -> None:
    Tenant = apps.get_model("portal", "Tenant")
    Tenant.objects.filter(slug__in=PROBE_TENANTS).update(traffic="probe")


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_tenant_rate_limits"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="traffic",
            field=models.CharField(
                choices=[
                    ("customer", "Customer"),
                    ("probe", "Rollout probe"),
                    ("rehearsal", "Rollout rehearsal"),
                ],
                default="customer",
                help_text="How its requests are labelled in the metrics (the rollout "
                "controller's own tenants are probe or rehearsal traffic, never counted as "
                "customers').",
                max_length=10,
            ),
        ),
        migrations.RunPython(label_probe_tenants, migrations.RunPython.noop),
    ]
