"""manage.py create_tenant SLUG [--name NAME]: creates a tenant, or leaves it as it is."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from portal.tenancy.services import tenant_ensure


class Command(BaseCommand):
    help = "Create a tenant (idempotent: an existing tenant is left as it is)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", help="Display name (default: from the slug).")

    def handle(self, *args: Any, slug: str, name: str | None, **options: Any) -> None:
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"Invalid slug {slug!r}: letters, digits, - and _ only") from None
        tenant, created = tenant_ensure(slug=slug, name=name)
        verb = "Created" if created else "Exists"
        self.stdout.write(f"{verb}: tenant {tenant.slug} ({tenant.name})")
