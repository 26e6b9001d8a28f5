"""FAST_PATHS: every shortcut of portal/fastpaths turns off with the one setting, and the API
answers the same with them on and off.

The rest of the suite runs once with FAST_PATHS=off in CI, so every behaviour the suite checks
holds on the stock framework paths too; here the two are compared answer by answer, and each
shortcut is shown to step aside when the switch is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from contacts.apis import ContactListView, ContactSerializer
from contacts.models import Contact
from portal import fastpaths
from portal.fastpaths import cycles, prepared, shared_reads
from portal.observability import request_context
from tests.factories import ContactFactory, JobFactory

pytestmark = pytest.mark.django_db

# Requests a client makes, good and bad: lists with filters, orderings, search and cursors,
# details, and the errors each kind of mistake earns.
REQUESTS = [
    "/v1/contacts",
    "/v1/contacts?limit=3",
    "/v1/contacts?limit=2&offset=3",
    "/v1/contacts?ordering=name",
    "/v1/contacts?ordering=-created_at,name",
    "/v1/contacts?q=ann",
    "/v1/contacts?limit=0",
    "/v1/contacts?limt=5",
    "/v1/contacts?ordering=nope",
    "/v1/contacts?status=",
    "/v1/jobs",
    "/v1/jobs?status=scheduled",
    "/v1/jobs?ordering=-scheduled_for",
    "/v1/jobs/nope",
    "/v1/contacts/00000000-0000-0000-0000-000000000000",
    "/v1/health",
    "/v1/usage",
]
VOLATILE = {"timestamp", "traceId", "requestId", "instance"}


def _stable(response: Any) -> tuple[int, Any, dict[str, str]]:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = response.content
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in VOLATILE}
    headers = {
        name: value
        for name, value in response.headers.items()
        if not name.startswith(("X-Request-Id", "X-Trace-Id", "X-RateLimit-"))
    }
    return response.status_code, body, headers


@pytest.fixture
def rows(tenant: Any) -> None:
    names = ["Ann Lee", "Bob Ray", "Annie Fox", "Cy Young", "Dee Dee", "Ann Other"]
    contacts = [ContactFactory(tenant=tenant, name=name) for name in names]
    for contact in contacts[:3]:
        JobFactory(tenant=tenant, contact=contact)


@pytest.mark.parametrize("path", REQUESTS)
def test_every_answer_is_the_same_with_the_shortcuts_off(
    api: APIClient, rows: None, settings: Any, path: str
) -> None:
    settings.FAST_PATHS = True
    fast = [_stable(api.get(path)) for _ in range(2)]  # the second from what the first kept
    settings.FAST_PATHS = False
    stock = _stable(api.get(path))
    assert fast[0] == fast[1] == stock


def test_a_next_page_cursor_from_either_path_reads_the_same_page(
    api: APIClient, rows: None, settings: Any
) -> None:
    settings.FAST_PATHS = True
    first = api.get("/v1/contacts?limit=2&ordering=name").json()
    cursor = first["next_cursor"]
    fast = api.get(f"/v1/contacts?limit=2&ordering=name&cursor={cursor}").json()["data"]
    settings.FAST_PATHS = False
    stock = api.get(f"/v1/contacts?limit=2&ordering=name&cursor={cursor}").json()["data"]
    assert fast == stock
    assert len(stock) == 2


def test_off_a_tenant_row_and_a_page_are_read_through_the_orm(
    tenant: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    contact: Any = ContactFactory(tenant=tenant)
    settings.FAST_PATHS = False
    monkeypatch.setattr(prepared, "_compile", lambda *a: pytest.fail("compiled"))
    monkeypatch.setattr(prepared, "_compile_page", lambda *a: pytest.fail("compiled"))
    assert prepared.tenant_row(Contact, tenant.pk, contact.pk) == contact
    assert prepared.page(Contact.objects.filter(tenant=tenant)[:5]) == [contact]


def test_off_a_request_s_objects_are_left_to_the_collector(settings: Any) -> None:
    settings.FAST_PATHS = False

    class Response:
        renderer_context = {"kept": True}

    response = Response()
    cycles.release(None, response)
    assert response.renderer_context == {"kept": True}


def test_off_drf_makes_its_policy_objects_per_request(settings: Any) -> None:
    settings.FAST_PATHS = False
    view = ContactListView()
    assert view.get_renderers()[0] is not view.get_renderers()[0]
    settings.FAST_PATHS = True
    assert view.get_renderers()[0] is view.get_renderers()[0]


def test_off_serializers_walk_their_fields(tenant: Any, settings: Any) -> None:
    contact = ContactFactory(tenant=tenant)
    settings.FAST_PATHS = True
    planned = ContactSerializer(contact).data
    assert ContactSerializer().value_sources() is not None
    settings.FAST_PATHS = False
    assert ContactSerializer().value_sources() is None
    assert ContactSerializer(contact).data == planned


def test_off_no_batch_rides_on_the_token_check(
    api: APIClient, rows: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.FAST_PATHS = False
    begun: list[object] = []
    begin = shared_reads.begin

    def recording() -> Any:
        begun.append(begin())
        return begun[-1]

    monkeypatch.setattr(shared_reads, "begin", recording)
    assert api.get("/v1/contacts").status_code == 200
    assert begun == [None]


# (FAST_PATHS, FAST_PATHS_EXCEPT): every way the rate limiter's count can be taken.
COUNTING = [
    (True, frozenset()),
    (False, frozenset()),
    (True, frozenset({"ratelimit"})),
    (True, frozenset({"shared_reads"})),
    (True, frozenset({"ratelimit", "shared_reads"})),
]


@pytest.mark.parametrize(("first", "then"), [(a, b) for a in COUNTING for b in COUNTING])
def test_a_request_is_counted_once_in_the_same_window_whatever_the_switches(
    api: APIClient,
    settings: Any,
    first: tuple[bool, frozenset[str]],
    then: tuple[bool, frozenset[str]],
) -> None:
    """Switching shortcuts mid-window neither resets, skips nor doubles a count: every path
    counts a request once, under django-ratelimit's own key."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "default": "50/m"}
    answers = []
    for on, kept_off in (first, first, then, then):
        settings.FAST_PATHS, settings.FAST_PATHS_EXCEPT = on, kept_off
        answers.append(api.get("/v1/contacts"))
    assert [int(r["X-RateLimit-Remaining"]) for r in answers] == [49, 48, 47, 46]
    assert len({r["X-RateLimit-Reset"] for r in answers}) == 1


def test_off_a_detail_is_still_one_query(api: APIClient, tenant: Any, settings: Any) -> None:
    contact: Any = ContactFactory(tenant=tenant)
    api.get(f"/v1/contacts/{contact.pk}")  # the token cached
    settings.FAST_PATHS = False
    with CaptureQueriesContext(connection) as queries:
        assert api.get(f"/v1/contacts/{contact.pk}").status_code == 200
    assert len(queries) <= 2, [q["sql"] for q in queries]
    assert request_context.current() is None
    assert caches["shared"] is not None


def test_each_shortcut_has_its_name_and_turns_off_alone(settings: Any) -> None:
    settings.FAST_PATHS = True  # whatever the suite runs with
    root = Path(__file__).resolve().parents[2]
    source = "".join(path.read_text() for path in (root / "portal").rglob("*.py"))
    for name in settings.FAST_PATH_NAMES:
        assert f'enabled("{name}")' in source, name
        settings.FAST_PATHS_EXCEPT = frozenset({name})
        assert not fastpaths.enabled(name)
        assert all(fastpaths.enabled(other) for other in settings.FAST_PATH_NAMES if other != name)
    settings.FAST_PATHS_EXCEPT = frozenset()
    settings.FAST_PATHS = False
    assert not any(fastpaths.enabled(name) for name in settings.FAST_PATH_NAMES)


def test_an_unknown_shortcut_name_is_refused_at_start() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", "import portal.config.settings"],
        cwd=root,
        env={**os.environ, "FAST_PATHS_EXCEPT": "prepared,warp-drive"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "FAST_PATHS_EXCEPT: unknown warp-drive" in result.stderr
