from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from portal.models import ApiToken, Tenant
from tests.factories import PDF_BYTES, JobFactory, JobFileFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def test_it_lists_a_jobs_files_with_signed_urls(api: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant, name="production_document.pdf")
    before = time.time()
    response = api.get(f"/v1/jobs/{job_file.job_id}/files", {"limit": 1})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, max-age=0, no-store"
    assert response["Pragma"] == "no-cache"
    body = response.json()
    assert (body["total"], body["limit"], body["offset"], body["has_more"]) == (1, 1, 0, False)
    item = body["data"][0]
    assert item["id"] == job_file.id
    assert item["id"].startswith("file_")
    assert (item["name"], item["kind"], item["size"]) == (
        "production_document.pdf",
        "document",
        len(PDF_BYTES),
    )

    url = urlsplit(item["signed_url"])
    assert url.path == f"/v1/jobs/{job_file.job_id}/files/{job_file.id}/download"
    query = parse_qs(url.query)
    token = ApiToken.objects.get(tenant=tenant)
    assert query["client"] == [token.prefix]
    expires = int(query["expires"][0])
    # 15 minutes ahead at most, and expires_at says exactly when.
    assert before + 900 - 2 <= expires <= time.time() + 900
    expires_at = datetime.fromisoformat(item["expires_at"].replace("Z", "+00:00"))
    assert expires_at == datetime.fromtimestamp(expires, tz=UTC)
    assert item["expires_at"].endswith(".000Z")


def test_the_ttl_is_configurable(api: APIClient, tenant: Tenant, settings: Any) -> None:
    settings.SIGNED_URL_TTL_SECONDS = 60
    job_file = JobFileFactory.create(job__tenant=tenant)
    item = api.get(f"/v1/jobs/{job_file.job_id}/files").json()["data"][0]
    expires = int(parse_qs(urlsplit(item["signed_url"]).query)["expires"][0])
    assert expires <= time.time() + 60


def test_the_signed_url_never_carries_the_secret(
    api: APIClient, token: str, tenant: Tenant
) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    response = api.get(f"/v1/jobs/{job_file.job_id}/files")
    assert token not in response.content.decode()
    # The secret is everything after the public prefix `pt_XXXXXXXX_`; it is URL-safe base64,
    # so it may itself hold an underscore.
    prefix, secret = token[:12], token[12:]
    assert prefix.count("_") == 2
    assert len(secret) == 43
    assert secret not in response.content.decode()


def test_it_only_lists_that_jobs_files(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    JobFileFactory.create_batch(2, job=job)
    JobFileFactory.create(job__tenant=tenant)
    assert api.get(f"/v1/jobs/{job.id}/files").json()["total"] == 2


def test_another_tenants_job_files_are_not_found(other_api: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    response = other_api.get(f"/v1/jobs/{job_file.job_id}/files")
    assert assert_problem(response, 404, "NOT_FOUND")["detail"] == "Job not found"
    assert response["Cache-Control"] == "private, max-age=0, no-store"
    assert job_file.id not in response.content.decode()


def test_list_query_count_does_not_grow_with_page_size(
    api: APIClient, tenant: Tenant, django_assert_num_queries: Any, settings: Any
) -> None:
    # As shipped: the token is cached per worker, the total for LIST_COUNT_CACHE_SECONDS; the
    # steady state is the page query alone.
    settings.LIST_COUNT_CACHE_SECONDS = 10
    job = JobFactory.create(tenant=tenant)
    JobFileFactory.create_batch(12, job=job)
    api.get(f"/v1/jobs/{job.id}/files", {"limit": 1})  # counts the total, then keeps it
    with django_assert_num_queries(1):
        api.get(f"/v1/jobs/{job.id}/files", {"limit": 1})
    with django_assert_num_queries(1):
        assert len(api.get(f"/v1/jobs/{job.id}/files", {"limit": 12}).json()["data"]) == 12


def test_it_requires_a_token(anon: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    response = anon.get(f"/v1/jobs/{job.id}/files")
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response["Pragma"] == "no-cache"


def test_it_refuses_bad_pagination(api: APIClient, tenant: Tenant) -> None:
    job = JobFactory.create(tenant=tenant)
    assert_problem(api.get(f"/v1/jobs/{job.id}/files", {"limit": "x"}), 400, "VALIDATION_ERROR")
