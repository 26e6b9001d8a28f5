"""Fixtures: two tenants, a token for each, and API clients that use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache, caches
from rest_framework.test import APIClient

from contacts import selectors as contact_selectors
from ops.models import Gate
from ops.rollouts import schema
from ops.slo.metrics_store import recorder
from portal.http import totals as list_totals
from portal.http.health import forget_probes
from portal.models import Tenant
from portal.resilience.breakers import breakers
from portal.tenancy import tokens as token_cache
from portal.tenancy.services import token_create
from tests.factories import TenantFactory


@pytest.fixture(autouse=True)
def _shortcut_tests_keep_their_shortcut(request: pytest.FixtureRequest, settings: Any) -> None:
    # The suite runs once with FAST_PATHS=off (CI); a test of a shortcut itself still tests it.
    if request.node.get_closest_marker("fast_paths"):
        settings.FAST_PATHS = True


@pytest.fixture(autouse=True)
def _isolated_media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache_and_breakers() -> None:
    # Rate-limit windows and breaker state must not leak between tests.
    caches["shared"].clear()
    cache.clear()
    breakers.reset()
    forget_probes()
    token_cache.forget()
    list_totals.forget()
    contact_selectors.forget()


@pytest.fixture(autouse=True)
def _empty_metrics_store() -> None:
    # No test sees another's observations (portal.config.test_settings turns the flusher off).
    recorder._reset()


@pytest.fixture(autouse=True)
def _seeded_plans_judge_no_migrations(request: pytest.FixtureRequest) -> None:
    """The seeded plans' `migrations_safe` gate runs stable's contract smoke over HTTP before
    phase 1, which needs a stable server: tests of other rollout behaviour run those plans
    without it. The gate's own tests (marked `migration_gate`) keep it."""
    if request.node.get_closest_marker("migration_gate"):
        return
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if marker is None and not names & {"db", "transactional_db", "live_server"}:
        return
    transactional = bool(
        (marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)))
        or names & {"transactional_db", "live_server"}
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    Gate.objects.filter(kind=schema.GATE).delete()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return TenantFactory.create(slug="acme", name="Acme")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    """A tenant that must never see the first one's data."""
    return TenantFactory.create(slug="globex", name="Globex")


@pytest.fixture
def token(tenant: Tenant) -> str:
    return token_create(tenant=tenant, name="prod_token")[1]


@pytest.fixture
def other_token(other_tenant: Tenant) -> str:
    return token_create(tenant=other_tenant, name="different_tenant_token")[1]


def _client(raw: str | None) -> APIClient:
    client = APIClient()
    if raw:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api(token: str) -> APIClient:
    return _client(token)


@pytest.fixture
def other_api(other_token: str) -> APIClient:
    return _client(other_token)


@pytest.fixture
def anon(db: None) -> APIClient:
    return _client(None)
