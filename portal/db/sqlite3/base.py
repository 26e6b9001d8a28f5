"""django-prometheus's SQLite backend, with the shortcut of `portal.fastpaths.backends`."""

from __future__ import annotations

from django_prometheus.db.backends.sqlite3 import base  # type: ignore[import-untyped]

from portal.fastpaths.backends import SQLiteShortcuts


class DatabaseWrapper(SQLiteShortcuts, base.DatabaseWrapper):
    pass
