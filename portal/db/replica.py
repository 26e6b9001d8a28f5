"""Tenant reads from a read replica, behind one setting (`DATABASE_REPLICA_URL`).

With a replica configured, the API's safe requests (GET, HEAD, OPTIONS) read tenant data —
contacts, jobs, files — from the `replica` database; everything else stays on `default`:
writes, tokens and tenants (a revoked token must fail at once, not after replication catches
up), the admin, the ops app and the controller (they decide from the freshest state).

Read-your-writes: a write by a tenant pins that tenant's reads to the primary for
`REPLICA_PIN_SECONDS` (shared cache, so every worker sees it), which covers replication lag
and keeps the cached list totals exact. A replica that fails is skipped for
`REPLICA_RETRY_SECONDS` by this worker, and the request that found it is answered from the
primary: a replica outage costs capacity, never an error.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import OperationalError, connections
from django.db.models import Model

from portal.observability import request_context

ALIAS = "replica"
# Tenant data; the API reads these and nothing else from the replica.
REPLICA_APPS = frozenset({"contacts", "jobs", "files"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_down_until = 0.0


def configured() -> bool:
    return ALIAS in settings.DATABASES


def _pin_key(tenant_id: int) -> str:
    return f"replica-pin:{tenant_id}"


def pin(tenant_id: int) -> None:
    """After a write: this tenant reads from the primary until replication has caught up."""
    caches["shared"].set(_pin_key(tenant_id), 1, settings.REPLICA_PIN_SECONDS)


def _pinned(tenant_id: int) -> bool:
    return bool(caches["shared"].get(_pin_key(tenant_id)))


def available() -> bool:
    return time.monotonic() >= _down_until


def mark_down() -> None:
    global _down_until
    _down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS


def begin(method: str) -> None:
    """Called once the request is authenticated: may its tenant reads use the replica?"""
    context = request_context.current()
    if context is None or not configured():
        return
    token = getattr(context.principal, "token", None)
    tenant_id: int | None = token.tenant_id if token is not None else None
    if tenant_id is None:
        return
    if method in SAFE_METHODS:
        context.replica_reads = available() and not _pinned(tenant_id)
    else:
        pin(tenant_id)


def should_retry_on_primary(exc: Exception) -> bool:
    """A read that failed on the replica is retried on the primary, once; a replica that can
    no longer be used is skipped for a while."""
    context = request_context.current()
    if context is None or not context.replica_used or not isinstance(exc, OperationalError):
        return False
    context.replica_reads = False
    connection = connections[ALIAS]
    if connection.connection is None or not connection.is_usable():
        mark_down()
        connection.close()
    return True


class ReplicaRouter:
    """Routes a request's tenant reads to the replica when `begin` allowed it."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        if model._meta.app_label not in REPLICA_APPS:
            return None
        context = request_context.current()
        if context is None or not context.replica_reads:
            return None
        context.replica_used = True
        return ALIAS

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # Both databases hold the same rows.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The replica is a copy of the primary: it receives the schema by replication.
        return db != ALIAS
