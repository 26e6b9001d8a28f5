#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.config.settings")
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        # A missing or unreachable database is a setup step, not a 40-line traceback.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        url = os.environ.get("DATABASE_URL", "the embedded SQLite file (var/)")
        sys.stderr.write(
            f"Cannot use the database ({url.split('@')[-1]}): {first}\n"
            "Create it (for PostgreSQL: createdb -h HOST -U USER NAME) or fix DATABASE_URL; "
            "see the README, 'Run on PostgreSQL + Redis'.\n"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
