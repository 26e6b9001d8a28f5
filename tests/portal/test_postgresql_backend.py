"""portal/db/postgresql: timestamps come from psycopg's C loader, as Django would decode them.
Against the real PostgreSQL (CI's second run)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from django.db import connection, connections

from contacts.models import Contact
from tests.factories import ContactFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend"),
    pytest.mark.django_db,
]


@pytest.fixture
def own() -> Iterator[Any]:
    """A second connection of the same settings, idle in autocommit like a worker's between
    requests (the test's own connection is inside the test's transaction)."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


@pytest.mark.fast_paths
def test_timestamps_are_decoded_by_the_fastest_loader_as_django_would() -> None:
    contact = ContactFactory.create()
    created = Contact.objects.values_list("created_at", flat=True).get(pk=contact.pk)
    assert created.tzinfo is UTC
    assert created == contact.created_at
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::timestamptz", [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)]
        )
        assert cursor.fetchone() == (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),)
    # A connection made now (the test's own may predate the marker's FAST_PATHS=on).
    fresh = connections.create_connection("default")
    fresh.ensure_connection()
    try:
        loader = fresh.connection.adapters.get_loader(
            psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
        )
        assert loader.timezone is UTC  # what Django compares before registering its own
        if psycopg.pq.__impl__ == "binary":
            made = loader(psycopg.adapters.types["timestamptz"].oid, fresh.connection)
            assert type(made).__module__.startswith("psycopg_binary")
    finally:
        fresh.close()
