"""What counts toward a breaker: only its dependency failing, never one request's content.

Before: five uploads with a 204-"é" name (ENAMETOOLONG) or a "???" name (reduced to nothing)
from any tenant opened the shared storage breaker for everyone; five statements cancelled by
their timeout opened the database breaker and made health `unhealthy` on every instance.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pybreaker
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, OperationalError, connection
from django.test import RequestFactory
from django.views.debug import technical_500_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from files.models import JobFile
from files.services import file_clean_name, file_storage_name
from portal.config.debug import SecretsFilter
from portal.http.serializers import clean_text
from portal.models import Tenant
from portal.resilience.breakers import breakers, describe
from portal.resilience.failures import is_cache_failure, is_database_outage, is_storage_failure
from tests.factories import PDF_BYTES, JobFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def wrapped(cause: BaseException) -> OperationalError:
    """What Django raises: its own OperationalError, caused by the driver's."""
    error = OperationalError(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (
            wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
            False,
        ),
        (wrapped(psycopg.errors.LockNotAvailable("could not obtain lock")), False),
        (wrapped(psycopg.errors.DeadlockDetected("deadlock detected")), False),
        (wrapped(psycopg.errors.SerializationFailure("could not serialize")), False),
        (wrapped(sqlite3.OperationalError("database is locked")), False),
        (IntegrityError("duplicate key"), False),
        (wrapped(psycopg.OperationalError("connection refused")), True),
        (wrapped(psycopg.errors.AdminShutdown("terminating connection")), True),
        (wrapped(psycopg.errors.TooManyConnections("too many clients")), True),
        (wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        (wrapped(sqlite3.OperationalError("unable to open database file")), True),
    ],
)
def test_only_an_unreachable_database_is_an_outage(error: Exception, outage: bool) -> None:
    assert is_database_outage(error) is outage


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (OSError(errno.ENAMETOOLONG, "File name too long"), False),
        (FileNotFoundError(errno.ENOENT, "No such file"), False),
        (FileExistsError(errno.EEXIST, "File exists"), False),
        (OSError(errno.EINVAL, "Invalid argument"), False),
        (OSError(errno.EIO, "Input/output error"), True),
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EROFS, "Read-only file system"), True),
        (OSError(errno.EACCES, "Permission denied"), True),
        (
            ClientError(
                {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                "GetObject",
            ),
            False,
        ),
        (
            ClientError(
                {"Error": {"Code": "KeyTooLongError"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                "PutObject",
            ),
            False,
        ),
        (
            ClientError(
                {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                "PutObject",
            ),
            True,
        ),
        (
            ClientError(
                {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                "PutObject",
            ),
            True,
        ),
        (EndpointConnectionError(endpoint_url="https://s3"), True),
    ],
)
def test_only_a_failing_storage_counts_for_its_breaker(error: Exception, failure: bool) -> None:
    assert is_storage_failure(error) is failure


def test_a_cache_miss_on_incr_is_no_cache_failure() -> None:
    assert is_cache_failure(ValueError("Key 'x' not found")) is False
    assert is_cache_failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) is True


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a real statement timeout")
def test_a_real_statement_timeout_is_not_an_outage() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        with pytest.raises(OperationalError) as caught:
            cursor.execute("SELECT pg_sleep(1)")
    assert not is_database_outage(caught.value)


NAMES = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "é" * 204,
            "???",
            "..",
            "../../etc/passwd",
            "\x00",
            "a\u202egnp.exe",
            "CON",
            "ﾟ" * 255,
            "x" * 255 + ".pdf",
            " ",
            ".pdf",
            "\\\\server\\share",
        ]
    ),
)


@given(name=NAMES)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_file_name_fails_storage_or_counts_on_its_breaker(
    api: APIClient, tenant: Tenant, name: str
) -> None:
    job = JobFactory.create(tenant=tenant)
    upload = SimpleUploadedFile("upload.pdf", PDF_BYTES, content_type="application/pdf")
    response = api.post(
        f"/v1/jobs/{job.id}/files", {"file": upload, "name": name}, format="multipart"
    )
    assert breakers.storage.fail_counter == 0
    assert breakers.storage.current_state == pybreaker.STATE_CLOSED
    if len(clean_text(name)) > 255:  # the documented limit, in characters
        assert_problem(response, 400, "VALIDATION_ERROR")
        return
    assert response.status_code == 201, response.content
    stored = JobFile.objects.get(pk=response.json()["id"])
    # A blank name means the uploaded file's own name.
    assert stored.name == file_clean_name(clean_text(name) or "upload.pdf")
    assert stored.blob.name.rsplit("/", 1)[-1].isascii()


@given(name=st.text(max_size=400))
def test_stored_names_are_short_ascii_and_never_empty(name: str) -> None:
    stored = file_storage_name(file_clean_name(name))
    assert stored
    assert stored.isascii()
    assert len(stored.encode()) <= 100
    assert stored not in {".", ".."}
    assert "/" not in stored


def test_display_names_lose_direction_and_invisible_characters() -> None:
    assert file_clean_name("in\u202efdp.exe") == "infdp.exe"
    assert file_clean_name("a\u200bb\x00c\u2066d.pdf") == "abcd.pdf"
    assert file_clean_name("???") == "???"
    assert file_clean_name("\u202e") == "file"


def cancelled(*args: Any, **kwargs: Any) -> None:
    raise wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout"))


def test_cancelled_statements_are_that_requests_problem_only(
    api: APIClient, anon: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.BREAKER_FAIL_MAX = 2
    monkeypatch.setattr("contacts.apis.ContactListView.get", cancelled)
    for _ in range(6):
        body = assert_problem(api.get("/v1/contacts"), 503, "SERVICE_UNAVAILABLE")
        assert "narrow it" in body["detail"]
    assert breakers.database.current_state == pybreaker.STATE_CLOSED
    assert anon.get("/v1/health").json()["status"] == "healthy"
    monkeypatch.undo()
    assert api.get("/v1/jobs").status_code == 200


def test_an_unreachable_database_still_opens_the_breaker(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.BREAKER_FAIL_MAX = 2

    def down(*args: Any, **kwargs: Any) -> None:
        raise wrapped(psycopg.OperationalError("connection refused"))

    monkeypatch.setattr("contacts.apis.ContactListView.get", down)
    api.get("/v1/contacts")
    api.get("/v1/contacts")
    assert breakers.database.current_state == pybreaker.STATE_OPEN
    response = api.get("/v1/jobs")  # fails fast: no query is sent
    assert_problem(response, 503, "SERVICE_UNAVAILABLE")


def test_trials_back_off_from_the_first_reset_to_the_cap(settings: Any) -> None:
    settings.BREAKER_FIRST_RESET_SECONDS = 2
    settings.BREAKER_RESET_TIMEOUT = 30
    breaker = breakers.storage
    breaker.open()
    waits = [breaker.reset_timeout]
    for _ in range(5):
        breaker.half_open()
        breaker.open()  # the trial failed
        waits.append(breaker.reset_timeout)
    assert waits == [2, 4, 8, 16, 30, 30]
    breaker.close()
    breaker.open()
    assert breaker.reset_timeout == 2


def test_health_is_the_trial_that_closes_the_database_breaker(anon: APIClient) -> None:
    breakers.database.open()  # retry time not reached yet
    response = anon.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert breakers.database.current_state == pybreaker.STATE_CLOSED


def test_an_open_breaker_past_its_retry_time_is_reported_half_open() -> None:
    breaker = breakers.storage
    breaker.open()
    breaker._state_storage.opened_at = datetime.now(UTC) - timedelta(seconds=60)
    view = describe(breaker)
    assert view.state == "half-open"
    assert view.retry_at is not None
    assert view.retry_at < datetime.now(UTC)


# Built at run time, so the report's source excerpts of this file cannot contain them.
PASSWORDS = ["-".join(("db", "password", "1")), "-".join(("redis", "password", "2"))]
SECRETS = {
    "DATABASE_URL": f"postgres://app:{PASSWORDS[0]}@db/portal",
    "REDIS_URL": f"redis://:{PASSWORDS[1]}@cache:6379/0",
    "METRICS_TOKEN": "-".join(("metrics", "token", "3")),
}


def report_page(request: Any) -> str:
    """The DEBUG page for an error raised here (this frame's only local is the request)."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        return str(technical_500_response(request, *sys.exc_info()).content.decode())


def test_error_reports_hide_connection_strings_and_tokens(settings: Any) -> None:
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.CACHES = {
        **settings.CACHES,
        "spare": {"BACKEND": "x", "LOCATION": SECRETS["REDIS_URL"]},
    }
    settings.DEBUG = True
    # runserver copies the environment into META; the Authorization header is there too.
    meta: dict[str, Any] = {**SECRETS, "HTTP_AUTHORIZATION": f"Bearer {SECRETS['METRICS_TOKEN']}"}
    request = RequestFactory().get("/metrics", **meta)
    page = report_page(request)
    assert "boom" in page
    for value in [*SECRETS.values(), *PASSWORDS]:
        assert value not in page
    assert "DATABASE_URL" in page  # named, with its value hidden
    assert SecretsFilter().get_safe_settings()["METRICS_TOKEN"] == SecretsFilter.cleansed_substitute
