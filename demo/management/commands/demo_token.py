"""manage.py demo_token: the demo tenant's token for `make run`, the same one on every restart.

The raw token exists only where it was shown, so the first run keeps it in a file beside the
local database (var/demo-token, readable by its owner only, never committed); later runs print
it again as long as it is still usable. Only when it is gone (revoked, expired, a fresh database)
is a new one made, and the command says so. The raw value is on the last line of stdout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import AuthenticationFailed

from portal.models import Tenant
from portal.tenancy.auth import resolve_token
from portal.tenancy.services import token_create

NAME = "demo_token"


class Command(BaseCommand):
    help = "Print the demo tenant's token, the same one across restarts (make run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="acme", help="Demo tenant slug (default acme).")
        parser.add_argument(
            "--file",
            default=os.environ.get("DEMO_TOKEN_FILE")
            or str(Path(settings.BASE_DIR) / "var" / "demo-token"),
            help="Where the raw token is kept between runs (default DEMO_TOKEN_FILE, else "
            "var/demo-token).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['tenant']!r}; run seed_demo first")
        path = Path(options["file"])
        kept = path.read_text().strip() if path.exists() else ""
        if kept:
            try:
                token = resolve_token(kept)
            except AuthenticationFailed:  # revoked, expired, unknown: a new one replaces it
                token = None
            if token is not None and token.tenant_id == tenant.pk:
                self.stdout.write(
                    f"Demo token ({token.prefix}) for {tenant.slug}, kept from before"
                )
                self.stdout.write(kept)
                return
            self.stdout.write("The kept demo token is no longer usable: a new one replaces it.")
        _, raw = token_create(tenant=tenant, name=NAME, rotate=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(raw + "\n")
        os.chmod(path, 0o600)
        self.stdout.write(f"New demo token for {tenant.slug} (kept in {path})")
        self.stdout.write(raw)
