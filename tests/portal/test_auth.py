from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken, Tenant, hash_token
from portal.tenancy import tokens as token_cache
from portal.tenancy.services import token_create, token_revoke
from tests.factories import ContactFactory
from tests.helpers import assert_problem

URL = "/v1/contacts"
pytestmark = pytest.mark.django_db


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_a_valid_token_is_accepted(api: APIClient) -> None:
    assert api.get(URL).status_code == 200


@pytest.mark.parametrize("header", ["", "Basic dXNlcjpwYXNz", "Token abc"])
def test_missing_bearer_credentials_are_unauthenticated(header: str) -> None:
    response = client_with(header).get(URL)
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("header", ["Bearer ", "Bearer a b", "Bearer " + "x" * 300, "Bearer nope"])
def test_bad_bearer_tokens_are_invalid(header: str) -> None:
    response = client_with(header).get(URL)
    assert_problem(response, 401, "INVALID_TOKEN")
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


def test_a_revoked_token_is_invalid(tenant: Tenant) -> None:
    token, raw = token_create(tenant=tenant, name="t")
    token_revoke(token=token)
    assert_problem(client_with(f"Bearer {raw}").get(URL), 401, "INVALID_TOKEN")


def test_an_expired_token_is_invalid(tenant: Tenant) -> None:
    token, raw = token_create(tenant=tenant, name="t", expires_in_days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(client_with(f"Bearer {raw}").get(URL), 401, "INVALID_TOKEN")


def test_the_scheme_is_case_insensitive(token: str) -> None:
    assert client_with(f"bearer {token}").get(URL).status_code == 200


def test_a_suspended_tenants_token_is_forbidden(tenant: Tenant, token: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    body = assert_problem(client_with(f"Bearer {token}").get(URL), 403, "PERMISSION_DENIED")
    assert body["detail"] == "This tenant is suspended"


def test_only_the_hash_is_stored(tenant: Tenant) -> None:
    token, raw = token_create(tenant=tenant, name="t")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hash_token(raw)
    assert raw not in {stored.key_hash, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix + "_")


def test_last_used_is_written_at_most_once_a_minute(
    api: APIClient, tenant: Tenant, django_assert_num_queries: Any
) -> None:
    ContactFactory.create(tenant=tenant)
    token = ApiToken.objects.get(tenant=tenant)
    assert token.last_used_at is None
    api.get(URL)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    # Within the minute: the page alone (the token is cached; one row says its own total); no
    # write.
    with django_assert_num_queries(1):
        api.get(URL)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    # A minute later (the stamp moved back stands for time moving on; the worker's cached copy
    # is dropped so it sees the older stamp, as it would after a minute).
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(seconds=61))
    token_cache.forget()
    api.get(URL)
    refreshed = ApiToken.objects.get(pk=token.pk).last_used_at
    assert refreshed is not None
    assert refreshed > first - timedelta(seconds=1)


def test_rotate_revokes_older_tokens_of_that_name(tenant: Tenant) -> None:
    old, old_raw = token_create(tenant=tenant, name="demo")
    other, _ = token_create(tenant=tenant, name="other")
    _, new_raw = token_create(tenant=tenant, name="demo", rotate=True)
    old.refresh_from_db()
    other.refresh_from_db()
    assert old.revoked_at is not None
    assert other.revoked_at is None
    assert client_with(f"Bearer {new_raw}").get(URL).status_code == 200
    assert client_with(f"Bearer {old_raw}").get(URL).status_code == 401
