"""Migrations on a shared PostgreSQL never queue the site behind them: every schema change runs
with `lock_timeout` (a DDL statement waiting for a busy table gives up instead of holding every
query behind its queued ACCESS EXCLUSIVE lock) and `statement_timeout` (a rewrite cannot hold
the table for long). `CREATE INDEX CONCURRENTLY` blocks no writes, so it alone runs without the
statement timeout. Both come from MIGRATION_LOCK_TIMEOUT and MIGRATION_STATEMENT_TIMEOUT; the
migration gate (ops/rollouts/schema.py) counts on them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as BaseSchemaEditor


class DatabaseSchemaEditor(BaseSchemaEditor):
    def __enter__(self) -> DatabaseSchemaEditor:
        super().__enter__()
        if not self.collect_sql:
            self._set_timeouts(settings.MIGRATION_STATEMENT_TIMEOUT)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if not self.collect_sql and not self.connection.in_atomic_block:
            # A non-atomic migration's session keeps what it set: put it back.
            with self.connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout; RESET statement_timeout")

    def execute(self, sql: Any, params: Any = ()) -> None:
        concurrent = not self.collect_sql and "CONCURRENTLY" in str(sql).upper()
        if concurrent:
            self._set_timeouts("0")
        try:
            super().execute(sql, params)
        finally:
            if concurrent:
                self._set_timeouts(settings.MIGRATION_STATEMENT_TIMEOUT)

    def _set_timeouts(self, statement_timeout: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false), "
                "set_config('statement_timeout', %s, false)",
                [settings.MIGRATION_LOCK_TIMEOUT, statement_timeout],
            )
