"""manage.py create_token --tenant SLUG --name NAME: prints the raw token alone on the last
line of stdout, so scripts can take it with `tail -n 1`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.formats import rfc3339
from portal.models import Tenant
from portal.tenancy.services import token_create


class Command(BaseCommand):
    help = "Create an API token for a tenant and print it (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--name", required=True, help="Token name, e.g. prod_token.")
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Revoke the tenant's other active tokens with this name.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1")
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}; create it with create_tenant")
        try:
            token, raw = token_create(
                tenant=tenant,
                name=options["name"],
                expires_in_days=days,
                rotate=options["rotate"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        expiry = rfc3339(token.expires_at) if token.expires_at else "never"
        self.stdout.write(
            f"Token {token.name} ({token.prefix}) for {tenant.slug}, expires {expiry}"
        )
        self.stdout.write(raw)
