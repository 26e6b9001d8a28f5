"""`make canary MIGRATION=expand`: a canary release whose migration only expands the schema (a
nullable column the stable code never sees), which the migration gate accepts. Only the
canary's process sees it (DEMO_MIGRATIONS=expand)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [
        migrations.RunSQL(
            'ALTER TABLE "contacts_contact" ADD COLUMN "nickname" varchar(50) NULL',
            reverse_sql='ALTER TABLE "contacts_contact" DROP COLUMN "nickname"',
        )
    ]
