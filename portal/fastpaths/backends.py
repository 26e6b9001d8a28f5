"""Database backend shortcuts: the PostgreSQL and SQLite backends (`portal.db`) mix these in.

PostgreSQL. Django registers a Python subclass of psycopg's `timestamptz` loader, which psycopg
cannot swap for its C version, and is many times slower per value; every row of every page
has timestamps. When the connection's time zone is UTC (USE_TZ, as this project runs)
the C loader returns exactly what Django's would: aware datetimes in UTC.

Django checks a persistent connection before its first use in each request (CONN_HEALTH_CHECKS)
with a `SELECT 1`: a round trip, and a statement for PostgreSQL to run, on every request, for a
connection that is nearly always fine. (A poll of the socket instead was measured and refused:
a connection killed a millisecond before a request still polls clean, and its first query
fails, more often than with the query.) Here a request's first
statement on a reused connection goes without the check when it is a read outside any
transaction, and if the connection turns out to be dead it is opened again and the read runs
once more: the caller never sees the dead connection, and a read run twice changes nothing.
Anything else first (a write, a transaction's start, a server-side cursor) is checked with the
`SELECT 1` exactly as before, since it might not be safe to run twice.

SQLite. django-prometheus makes a new cursor class for every cursor (`ExportingCursorWrapper`
defines a class on each call). A class is a reference cycle, so every request on SQLite left
classes for the cyclic collector (portal/fastpaths/cycles.py says why that matters), and paid
for making them. The class depends only on the base cursor class, the alias and the vendor, so
it is made once for each. (Its PostgreSQL backend makes its class once per connection already.)

With FAST_PATHS=off each connection is made and checked as Django makes and checks it, and
each cursor gets django-prometheus's own class.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from functools import cache, lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import Error
from django_prometheus.db.common import ExportingCursorWrapper  # type: ignore[import-untyped]
from psycopg import adapt, pq

from portal.fastpaths import enabled

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


class PostgreSQLShortcuts:
    """For a PostgreSQL DatabaseWrapper: the C timestamp loader and the deferred reuse check."""

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()  # type: ignore[misc]
        state: Any = self
        if (
            enabled("backends")
            and settings.USE_TZ
            and state.timezone == UTC
            and "context" in params
        ):
            params["context"] = _utc_adapters(params["context"])
        return params

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set when a reused connection's check was left to the request's first statement.
        self._check_deferred = False
        state: Any = self
        state.execute_wrappers.append(self._first_statement)

    def _cursor(self, name: str | None = None) -> Any:
        state: Any = self  # django-stubs does not type the health-check flags
        if (
            enabled("backends")
            and name is None
            and state.connection is not None
            and state.health_check_enabled
            and not state.health_check_done
            and not state.in_atomic_block
        ):
            state.health_check_done = True
            self._check_deferred = True
        return super()._cursor(name)  # type: ignore[misc]

    def connect(self) -> None:
        self._check_deferred = False
        super().connect()  # type: ignore[misc]

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
        state: Any = self
        if many or state.in_atomic_block or not _is_read(sql):
            # Not safe to run twice: checked first, as Django would have.
            if not state.is_usable():
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
        raw = getattr(self, "connection", None)
        return raw is None or bool(raw.closed) or bool(getattr(raw, "broken", False))

    def _reopen(self, context: dict[str, Any]) -> None:
        """A new connection, and a new cursor on it under the caller's cursor wrapper."""
        state: Any = self
        state.close()
        # Raised as Django's errors, as a connection Django opened itself would raise them (the
        # breakers and the replica's fallback to the primary look for those).
        with state.wrap_database_errors:
            state.connect()
            context["cursor"].cursor = state.create_cursor()


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:7].upper() == "SELECT "


@cache
def _cursor_class(cursor_class: type, alias: str, vendor: str) -> Any:
    return ExportingCursorWrapper(cursor_class, alias, vendor)


class SQLiteShortcuts:
    """For django-prometheus's SQLite DatabaseWrapper: its cursor class made once."""

    def create_cursor(self, name: str | None = None) -> Any:
        if not enabled("backends"):
            return super().create_cursor(name)  # type: ignore[misc]
        state: Any = self
        factory = _cursor_class(state.CURSOR_CLASS, state.alias, state.vendor)
        return state.connection.cursor(factory=factory)
