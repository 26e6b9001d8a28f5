"""Errors that say what to do: the scheme, the media type, the size limit, the host setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.formats import size_text
from portal.models import Tenant
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_a_token_sent_with_another_scheme_is_told_to_use_bearer(token: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/v1/contacts")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert "'Token'" in response.json()["detail"]


def test_json_sent_to_the_upload_route_is_pointed_to_multipart(
    api: APIClient, tenant: Tenant
) -> None:
    job = JobFactory.create(tenant=tenant)
    response = api.post(f"/v1/jobs/{job.pk}/files", {"file": "x"}, format="json")
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


def test_the_upload_limit_is_given_in_mib(api: APIClient, tenant: Tenant, settings: Any) -> None:
    settings.FILE_UPLOAD_MAX_BYTES = 1024 * 1024
    job = JobFactory.create(tenant=tenant)
    response = api.post(
        f"/v1/jobs/{job.pk}/files",
        {"file": ("big.pdf", b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024))},
        format="multipart",
    )
    assert response.status_code == 413
    assert "1 MiB (1,048,576 bytes)" in response.json()["detail"]


def test_size_text() -> None:
    assert size_text(25 * 1024 * 1024) == "25 MiB (26,214,400 bytes)"
    assert size_text(1536 * 1024) == "1.5 MiB (1,572,864 bytes)"
    assert size_text(900) == "900 bytes"
    assert size_text(10 * 1024**3) == "10 GiB (10,737,418,240 bytes)"


def test_a_disallowed_host_names_the_setting(client: Client) -> None:
    response = client.get("/v1/health", HTTP_HOST="api.example.org")
    assert response.status_code == 400
    assert "ALLOWED_HOSTS" in response.json()["detail"]
