"""`make canary MIGRATION=breaking`: a canary release whose migration drops a column the
stable code still reads (contacts' `company`), the one-step change the migration gate exists
to stop. Only the canary's process sees it (DEMO_MIGRATIONS=breaking)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [
        migrations.RunSQL(
            'ALTER TABLE "contacts_contact" DROP COLUMN "company"',
            reverse_sql='ALTER TABLE "contacts_contact" ADD COLUMN "company" varchar(200) '
            "NOT NULL DEFAULT ''",
        )
    ]
