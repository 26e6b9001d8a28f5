"""manage.py seed_demo: the demo tenants of the seed log (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from contacts.models import Contact
from demo.data import seed_demo
from files.models import JobFile
from jobs.models import Job


class Command(BaseCommand):
    help = "Create demo tenants acme (1247 contacts, 342 jobs) and globex; safe to re-run."

    def handle(self, *args: Any, **options: Any) -> None:
        for tenant in seed_demo():
            contacts = Contact.objects.for_tenant(tenant).count()
            jobs = Job.objects.for_tenant(tenant).count()
            files = JobFile.objects.for_tenant(tenant).count()
            self.stdout.write(
                f"Tenant {tenant.slug}: {contacts} contacts, {jobs} jobs, {files} files"
            )
        self.stdout.write(
            "Get a token with: python manage.py create_token --tenant acme --name demo_token"
        )
