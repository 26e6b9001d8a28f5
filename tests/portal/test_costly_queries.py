"""One client's costly queries never open the database breaker every tenant shares, on a
PostgreSQL configured as a production DBA would (statement_timeout, temp_file_limit,
work_mem): a statement stopped for its own cost is that request's 503 with Retry-After."""

from __future__ import annotations

import pybreaker
import pytest
from django.db import connection
from rest_framework.test import APIClient

from contacts.models import Contact
from portal.models import Tenant
from portal.resilience.breakers import breakers
from portal.resilience.failures import is_database_outage, is_statement_cancelled
from tests.helpers import assert_problem

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL's own limits (CI's PG pass)"
    ),
]

# Each limit as `SET` in the request's session, low enough that one sorted page exceeds it.
LIMITS = {
    "temp_file_limit": ["SET work_mem = '64kB'", "SET temp_file_limit = '64kB'"],
    "statement_timeout": ["SET statement_timeout = 1"],
}


@pytest.mark.django_db(transaction=True)  # each request's failed statement ends its own work
@pytest.mark.parametrize("limit", sorted(LIMITS))
def test_a_costly_sort_is_that_requests_503_and_no_outage(
    api: APIClient, tenant: Tenant, limit: str
) -> None:
    Contact.objects.bulk_create(
        Contact(tenant=tenant, name=f"c{n}", email=f"c{n}@x.test", company="z" * 150 + str(n))
        for n in range(20_000)
    )
    with connection.cursor() as cursor:
        for statement in LIMITS[limit]:
            cursor.execute(statement)
    try:
        for _ in range(breakers.database.fail_max + 2):
            response = api.get("/v1/contacts?ordering=company&offset=9000")
            assert_problem(response, 503, "SERVICE_UNAVAILABLE")
            assert response["Retry-After"] == "5"
        assert breakers.database.current_state == pybreaker.STATE_CLOSED
        assert breakers.database.fail_counter == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ALL")


def test_memory_and_temp_file_limits_are_the_statements_own() -> None:
    from django.db import OperationalError

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64kB'")
        cursor.execute("SET LOCAL temp_file_limit = '64kB'")
        with pytest.raises(OperationalError) as caught:
            cursor.execute(
                "SELECT md5(g::text) FROM generate_series(1, 200000) g ORDER BY 1 LIMIT 1"
            )
    assert getattr(caught.value.__cause__, "sqlstate", "") == "53400"
    assert not is_database_outage(caught.value)
    assert is_statement_cancelled(caught.value)
