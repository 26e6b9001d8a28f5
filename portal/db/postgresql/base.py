"""Django's PostgreSQL backend (through django-prometheus's metrics wrapper), with timestamps
decoded by psycopg's C loader, and the reuse check folded into a request's first read.

Django registers a Python subclass of psycopg's `timestamptz` loader, which psycopg cannot
swap for its C version: about 2.5 µs per value instead of 0.1 µs, and a page of 20 contacts has
40 of them. When the connection's time zone is UTC (USE_TZ, as this project runs) the C loader
returns exactly what Django's would: aware datetimes in UTC.

Django checks a persistent connection before its first use in each request (CONN_HEALTH_CHECKS)
with a `SELECT 1`: a round trip, and a statement for PostgreSQL to run, on every request, for a
connection that is nearly always fine. (A poll of the socket instead was measured and refused:
a connection killed a millisecond before a request still polls clean, and its first query
fails; 5 errors in 20 kills under load, against 1 with the query.) Here a request's first
statement on a reused connection goes without the check when it is a read outside any
transaction, and if the connection turns out to be dead it is opened again and the read runs
once more: the caller never sees the dead connection, and a read run twice changes nothing.
Anything else first (a write, a transaction's start, a server-side cursor) is checked with the
`SELECT 1` exactly as before, since it might not be safe to run twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from functools import lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import Error
from django_prometheus.db.backends.postgresql import base  # type: ignore[import-untyped]
from psycopg import adapt, pq

from portal.db.postgresql.schema import DatabaseSchemaEditor

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid


@lru_cache
def _utc_adapters(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    context = adapt.AdaptersMap(template)
    context.register_loader("timestamptz", UTCTimestamptzLoader)  # type: ignore[arg-type]
    return context


class UTCTimestamptzLoader:
    """Makes psycopg's fastest `timestamptz` loader (its C one with psycopg[binary]; a C type
    cannot be subclassed), and carries the `timezone` Django compares before it would register
    its own loader on a cursor."""

    timezone = UTC
    format = pq.Format.TEXT

    def __new__(cls, oid: int, context: Any = None) -> Any:
        fastest: Any = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
        return fastest(oid, context)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if settings.USE_TZ and self.timezone == UTC and "context" in params:
            params["context"] = _utc_adapters(params["context"])
        return params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set when a reused connection's check was left to the request's first statement.
        self._check_deferred = False
        self.execute_wrappers.append(self._first_statement)

    def _cursor(self, name: str | None = None) -> Any:
        state: Any = self  # django-stubs does not type the health-check flags
        if (
            name is None
            and self.connection is not None
            and state.health_check_enabled
            and not state.health_check_done
            and not self.in_atomic_block
        ):
            state.health_check_done = True
            self._check_deferred = True
        return super()._cursor(name)

    def connect(self) -> None:
        self._check_deferred = False
        super().connect()

    def _first_statement(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        if not self._check_deferred:
            return execute(sql, params, many, context)
        self._check_deferred = False
        if many or self.in_atomic_block or not _is_read(sql):
            # Not safe to run twice: checked first, as Django would have.
            if not self.is_usable():
                self._reopen(context)
            return execute(sql, params, many, context)
        try:
            return execute(sql, params, many, context)
        except Error:
            if not self._dead():
                raise
        self._reopen(context)
        return execute(sql, params, many, context)

    def _dead(self) -> bool:
        raw = self.connection
        return raw is None or bool(raw.closed) or bool(getattr(raw, "broken", False))

    def _reopen(self, context: dict[str, Any]) -> None:
        """A new connection, and a new cursor on it under the caller's cursor wrapper."""
        self.close()
        # Raised as Django's errors, as a connection Django opened itself would raise them (the
        # breakers and the replica's fallback to the primary look for those).
        with self.wrap_database_errors:
            self.connect()
            context["cursor"].cursor = self.create_cursor()


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:7].upper() == "SELECT "
