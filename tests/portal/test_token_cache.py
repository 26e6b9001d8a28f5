"""The per-worker token cache: a request costs no token query, and every way a token or its
tenant can change takes effect on the very next request."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken, Tenant
from portal.resilience.breakers import breakers
from portal.resilience.cache import FailoverCache
from portal.tenancy import tokens as token_cache
from portal.tenancy.services import token_create, token_revoke
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/v1/contacts"


def token_queries(api: APIClient) -> int:
    with CaptureQueriesContext(connection) as captured:
        api.get(URL)
    return sum(1 for q in captured.captured_queries if "portal_apitoken" in q["sql"])


def test_a_known_token_costs_no_query(api: APIClient) -> None:
    api.get(URL)
    assert token_queries(api) == 0


def suspend(tenant: Tenant) -> None:
    tenant.is_active = False
    tenant.save()


CHANGES: dict[str, Callable[[Tenant, ApiToken], Any]] = {
    "revoked (service)": lambda tenant, token: token_revoke(token=token),
    "revoked in bulk (admin action)": lambda tenant, token: ApiToken.objects.filter(
        pk=token.pk
    ).update(revoked_at=timezone.now()),
    "rotated": lambda tenant, token: token_create(tenant=tenant, name=token.name, rotate=True),
    "deleted": lambda tenant, token: token.delete(),
    "expired by an edit": lambda tenant, token: ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now()
    ),
    "tenant suspended (save)": lambda tenant, token: suspend(tenant),
    "tenant suspended (update)": lambda tenant, token: Tenant.objects.filter(pk=tenant.pk).update(
        is_active=False
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_to_a_token_or_its_tenant_applies_at_once(
    api: APIClient, tenant: Tenant, change: str
) -> None:
    assert api.get(URL).status_code == 200
    assert token_queries(api) == 0  # cached now
    token = ApiToken.objects.get(tenant=tenant)
    CHANGES[change](tenant, token)
    response = api.get(URL)
    assert response.status_code in {401, 403}, (change, response.status_code)


def test_touching_last_used_keeps_the_cache(api: APIClient, tenant: Tenant) -> None:
    api.get(URL)
    ApiToken.objects.filter(tenant=tenant).update(last_used_at=timezone.now())
    assert token_queries(api) == 0


def test_with_the_shared_cache_down_tokens_are_read_from_the_database(
    api: APIClient, tenant: Tenant
) -> None:
    api.get(URL)
    breakers.cache.open()
    try:
        # Another worker's revocation could not reach this one: no cached answers.
        assert token_queries(api) == 1
    finally:
        breakers.cache.close()


def test_while_the_shared_cache_is_on_trial_tokens_are_read_from_the_database(
    api: APIClient, tenant: Tenant
) -> None:
    # Half-open: Redis is being tried again, and a revocation made while it was down never
    # reached it; the generation it holds is not one to trust a cached token on.
    api.get(URL)
    breakers.cache.half_open()
    try:
        assert token_queries(api) == 1
    finally:
        breakers.cache.close()


def test_a_revocation_made_while_the_shared_cache_was_down_reaches_every_worker(
    api: APIClient, tenant: Tenant
) -> None:
    # Worker B cached the token; worker A revokes it while Redis is down, so A's bump cannot
    # reach Redis. Once Redis answers again, A makes the bump again and B's copy is retired.
    assert api.get(URL).status_code == 200
    stale = dict(token_cache._entries)  # worker B's cache, from before the outage
    breakers.cache.open()
    try:
        token_revoke(token=ApiToken.objects.get(tenant=tenant))
    finally:
        breakers.cache.close()
    token_cache._entries.update(stale)  # B never saw the change
    response = api.get(URL)
    assert response.status_code == 401, "a token revoked during the outage was accepted"
    assert token_cache._pending == [False]


def test_the_cache_is_bounded(api: APIClient, tenant: Tenant, settings: Any) -> None:
    settings.TOKEN_CACHE_SIZE = 3
    clients = []
    for i in range(5):
        _, raw = token_create(tenant=tenant, name=f"t{i}")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        clients.append(client)
    for client in clients:
        assert client.get(URL).status_code == 200
    assert len(token_cache._entries) == 3


def remaining(api: APIClient) -> int:
    response = api.get(URL)
    assert response.status_code == 200
    return int(response["X-RateLimit-Remaining"])


@pytest.mark.fast_paths
def test_a_cached_token_is_checked_and_counted_in_one_call(
    api: APIClient, monkeypatch: Any
) -> None:
    # The rate limit's count rides on the token check (one Redis round trip for both), and
    # every request is still counted exactly once.
    calls: list[tuple[int, Any]] = []
    original = FailoverCache.check_and_count

    def spy(self: FailoverCache, key: str, expected: int, window: Any, reads: Any = ()) -> Any:
        result = original(self, key, expected, window, reads)
        calls.append((expected, result))
        return result

    monkeypatch.setattr(FailoverCache, "check_and_count", spy)
    counts = [remaining(api) for _ in range(4)]
    assert counts == [59, 58, 57, 56]
    # The first request only read the generation (nothing held: it loaded the token, and the
    # rate limiter counted it); the next three were checked and counted at once.
    first, *held = calls
    assert first[0] == -1
    assert first[1] is not None
    assert first[1][1] is None
    assert len(held) == 3
    assert all(result is not None and result[1] is not None for _, result in held)


def test_a_generation_change_is_never_counted_twice(api: APIClient, tenant: Tenant) -> None:
    # Another token's change bumps the generation: the cached token is reloaded from the
    # database and counted by the rate limiter itself, once.
    assert remaining(api) == 59
    assert remaining(api) == 58
    token_create(tenant=tenant, name="another")
    assert token_queries(api) == 1  # reloaded: that request counted 57
    assert remaining(api) == 56


def test_a_revoked_token_is_refused_even_with_the_count_in_the_same_call(
    api: APIClient, tenant: Tenant
) -> None:
    assert remaining(api) == 59
    token_revoke(token=ApiToken.objects.get(tenant=tenant))
    assert api.get(URL).status_code == 401


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="counts round trips to Redis")
@pytest.mark.fast_paths
def test_a_list_request_costs_one_redis_round_trip(
    api: APIClient, tenant: Tenant, settings: Any, monkeypatch: Any
) -> None:
    # The token check carries the rate-limit count and the tenant's list-total generations;
    # the total itself is this worker's while its generation is current. A write retires it
    # in every worker (the generation moves), and the next page reads the new total once.
    settings.LIST_COUNT_CACHE_SECONDS = 60
    ContactFactory.create_batch(25, tenant=tenant)
    sent: list[str] = []
    original = redis.Redis.execute_command

    def spy(self: redis.Redis, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", spy)
    api.get(URL)
    api.get(URL)  # warm: the token cached, the total counted
    sent.clear()
    for _ in range(5):
        page = api.get(URL).json()
        assert page["has_more"] is True
        assert page["total"] == 25
    assert sent == ["EVALSHA"] * 5
    sent.clear()
    assert api.get(URL, {"offset": 20}).json()["has_more"] is False
    assert sent == ["EVALSHA"]


def test_a_revocation_after_the_shared_cache_restarted_reaches_a_worker_holding_the_token(
    api: APIClient, tenant: Tenant, monkeypatch: Any
) -> None:
    # Redis keeps nothing across a restart, so the generation starts again. Had it started at
    # 1, another worker's first revocation afterwards would make it 1 again: the number this
    # worker holds the token under, and the revoked token would pass here until it expired.
    assert api.get(URL).status_code == 200
    assert api.get(URL).status_code == 200  # held
    caches["shared"].clear()  # the restart
    # The revocation is another worker's: this one's memory is not cleared by it.
    monkeypatch.setattr(token_cache, "forget", lambda: None)
    (held,) = [generation for generation, _, _ in token_cache._entries.values()]
    shared = caches["shared"]
    # Other changes first, as many as would bring a restarted count back to just below it.
    for n in range(10):
        if int(shared.get(token_cache.GENERATION_KEY) or 0) + 1 >= held:
            break
        token_create(tenant=tenant, name=f"other-{n}")
    ApiToken.objects.filter(tenant=tenant).update(revoked_at=timezone.now())
    assert api.get(URL).status_code == 401
