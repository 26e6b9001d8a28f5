"""manage.py demo_operator: a staff login for the ops console on a development machine, with a
fresh random password printed on the last line. `make run` calls it; production refuses it
(create real staff accounts with `createsuperuser`)."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create or reset the demo staff login (development only) and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="operator")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "demo_operator is for development machines; use createsuperuser in production"
            )
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=options["username"], defaults={"email": "operator@example.com"}
        )
        user.is_active = user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"Demo staff login (/ops/): {user.get_username()} / {password}")
