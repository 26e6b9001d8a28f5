"""A reused PostgreSQL connection's check is folded into the request's first read
(portal/db/postgresql): reads go unchecked and are run again on a new connection if the old one
died; anything else is checked with Django's `SELECT 1` first, as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from portal.models import Tenant
from tests.factories import ContactFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's"),
]


@pytest.fixture
def reused(settings: Any) -> Iterator[None]:
    # As in production: persistent connections, checked before reuse.
    wrapper: Any = connections["default"]
    wrapper.settings_dict["CONN_HEALTH_CHECKS"] = True
    wrapper.health_check_enabled = True
    wrapper.ensure_connection()
    yield
    wrapper.settings_dict["CONN_HEALTH_CHECKS"] = False
    wrapper.health_check_enabled = False


def new_request() -> None:
    """What Django does when a request starts (request_started → close_old_connections)."""
    connection.close_if_unusable_or_obsolete()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def kill(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    wrapper = connections["default"]
    original = wrapper.is_usable

    def spy() -> bool:
        result: bool = original()
        seen.append(result)
        return result

    monkeypatch.setattr(wrapper, "is_usable", spy)
    return seen


@pytest.mark.fast_paths
def test_a_healthy_connection_s_first_read_goes_unchecked(
    reused: None, tenant: Tenant, checks: list[bool]
) -> None:
    ContactFactory.create(tenant=tenant)
    new_request()
    with CaptureQueriesContext(connection) as queries:
        assert Contact.objects.filter(tenant=tenant).count() == 1
    assert checks == []
    assert len(queries) == 1


@pytest.mark.fast_paths
def test_a_read_on_a_connection_that_died_between_requests_runs_on_a_new_one(
    reused: None, tenant: Tenant, checks: list[bool]
) -> None:
    ContactFactory.create_batch(2, tenant=tenant)
    before = backend_pid()
    new_request()
    kill(before)
    assert Contact.objects.filter(tenant=tenant).count() == 2
    assert [row.tenant_id for row in Contact.objects.filter(tenant=tenant)] == [tenant.pk] * 2
    assert backend_pid() != before
    assert checks == []


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda tenant: Contact.objects.filter(tenant=tenant).update(name="Renamed"), id="update"
        ),
        pytest.param(lambda tenant: ContactFactory.create(tenant=tenant), id="insert"),
        pytest.param(
            lambda tenant: transaction.atomic()(Contact.objects.filter(tenant=tenant).count)(),
            id="a transaction's first read",
        ),
    ],
)
def test_anything_else_on_a_dead_connection_is_checked_first_and_runs_once(
    reused: None, tenant: Tenant, checks: list[bool], write: Any
) -> None:
    ContactFactory.create(tenant=tenant)
    before = backend_pid()
    new_request()
    kill(before)
    write(tenant)
    assert checks[:1] == [False]  # the check found it dead, as Django's would
    assert backend_pid() != before


def test_a_read_that_fails_on_a_live_connection_is_not_run_again(
    reused: None, tenant: Tenant
) -> None:
    new_request()
    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(DatabaseError),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT no_such_column FROM portal_tenant")
    assert len(queries) == 1
    connection.close()


def test_only_the_first_statement_of_a_request_is_retried(reused: None, tenant: Tenant) -> None:
    new_request()
    assert Contact.objects.filter(tenant=tenant).count() == 0
    kill(backend_pid())
    with pytest.raises(DatabaseError):
        Contact.objects.filter(tenant=tenant).count()
    connection.close()


def test_a_database_that_cannot_be_reached_again_raises_django_s_error(
    reused: None, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the breakers and the replica's fallback to the primary catch: Django's
    # OperationalError, not psycopg's.
    new_request()
    kill(backend_pid())
    wrapper = connections["default"]

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(wrapper, "get_new_connection", refused)
    with pytest.raises(OperationalError):
        Contact.objects.filter(tenant=tenant).count()
    monkeypatch.undo()
    connection.close()
