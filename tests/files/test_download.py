from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from rest_framework.test import APIClient

from files import signing
from files.models import JobFile
from portal.models import ApiToken, Tenant
from portal.tenancy.services import token_revoke
from tests.factories import PDF_BYTES, JobFileFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db


def signed_path(api: APIClient, job_file: JobFile) -> str:
    item = api.get(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}").json()
    url = urlsplit(item["signed_url"])
    return f"{url.path}?{url.query}"


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_a_signed_url_streams_the_file_without_a_token(
    api: APIClient, anon: APIClient, tenant: Tenant
) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant, name="production_document.pdf")
    response = anon.get(signed_path(api, job_file))
    assert response.status_code == 200
    assert content(response) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="production_document.pdf"' in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, max-age=0, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


def tamper(path: str, **changes: str) -> str:
    url = urlsplit(path)
    params = dict(part.split("=", 1) for part in url.query.split("&"))
    params.update(changes)
    return f"{changes.pop('_path', url.path)}?{urlencode(params)}"


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "0" * 64},
        {"expires": str(int(time.time()) + 600)},
        {"client": "pt_AAAAAAAA"},
    ],
)
def test_a_tampered_link_is_refused(
    api: APIClient, anon: APIClient, tenant: Tenant, change: dict[str, str]
) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    response = anon.get(tamper(signed_path(api, job_file), **change))
    assert_problem(response, 403, "PERMISSION_DENIED")


def test_a_link_for_another_path_is_refused(
    api: APIClient, anon: APIClient, tenant: Tenant
) -> None:
    mine = JobFileFactory.create(job__tenant=tenant)
    other = JobFileFactory.create(job__tenant=tenant)
    query = urlsplit(signed_path(api, mine)).query
    response = anon.get(f"/v1/jobs/{other.job_id}/files/{other.id}/download?{query}")
    assert_problem(response, 403, "PERMISSION_DENIED")


def test_a_link_without_parameters_is_refused(anon: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    response = anon.get(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}/download")
    assert_problem(response, 403, "PERMISSION_DENIED")


def test_an_expired_link_is_refused(anon: APIClient, tenant: Tenant, token: str) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    prefix = ApiToken.objects.get(tenant=tenant).prefix
    path = f"/v1/jobs/{job_file.job_id}/files/{job_file.id}/download"
    signed = signing.sign(base_url="", path=path, client=prefix, now=time.time() - 901)
    assert_problem(anon.get(signed.url), 403, "SIGNED_URL_EXPIRED")


def test_a_link_dies_with_its_token(api: APIClient, anon: APIClient, tenant: Tenant) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    path = signed_path(api, job_file)
    token_revoke(token=ApiToken.objects.get(tenant=tenant))
    assert_problem(anon.get(path), 403, "PERMISSION_DENIED")


def test_a_link_dies_when_its_tenant_is_suspended(
    api: APIClient, anon: APIClient, tenant: Tenant
) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    path = signed_path(api, job_file)
    assert anon.get(path).status_code == 200
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    body = assert_problem(anon.get(path), 403, "PERMISSION_DENIED")
    assert "suspended" in body["detail"]


@pytest.mark.parametrize("expires", ["²", "١٢٣", "12\n", " 12", "+12", "1_0", "0x10", "9" * 13])
def test_only_ascii_digits_are_an_expiry(anon: APIClient, tenant: Tenant, expires: str) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    path = f"/v1/jobs/{job_file.job_id}/files/{job_file.id}/download"
    query = urlencode({"expires": expires, "client": "pt_x", "signature": "a" * 64})
    assert_problem(anon.get(f"{path}?{query}"), 403, "PERMISSION_DENIED")


def test_a_link_signed_for_another_tenants_client_opens_nothing(
    anon: APIClient, tenant: Tenant, other_tenant: Tenant, other_token: str
) -> None:
    job_file = JobFileFactory.create(job__tenant=tenant)
    foreign_prefix = ApiToken.objects.get(tenant=other_tenant).prefix
    path = f"/v1/jobs/{job_file.job_id}/files/{job_file.id}/download"
    signed = signing.sign(base_url="", path=path, client=foreign_prefix)
    assert_problem(anon.get(signed.url), 404, "NOT_FOUND")
