"""Django's PostgreSQL backend, through django-prometheus's metrics wrapper, with DDL under
lock and statement timeouts (`schema.py`) and the shortcuts of `portal.fastpaths.backends`."""

from __future__ import annotations

from django_prometheus.db.backends.postgresql import base  # type: ignore[import-untyped]

from portal.db.postgresql.schema import DatabaseSchemaEditor
from portal.fastpaths.backends import PostgreSQLShortcuts


class DatabaseWrapper(PostgreSQLShortcuts, base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
