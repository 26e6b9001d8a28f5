"""An API request's objects are freed when it ends, not left to the cyclic collector
(portal/fastpaths/cycles.py): a request that leaves cycles behind keeps its view, serializers
and rows in memory until a collection, which then frees many requests' worth inside some later
request."""

from __future__ import annotations

import gc
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test.client import ClientHandler

from contacts.models import Contact
from portal.models import Tenant
from tests.factories import ContactFactory, JobFactory

# One handler for every call, as a worker keeps one (loading the middleware makes cycles of
# its own, once).
HANDLER = ClientHandler()

pytestmark = pytest.mark.fast_paths


def call(method: str, path: str, token: str | None, body: Any = None) -> int:
    """One request through the whole stack, as a WSGI server makes it; only the status is
    kept. (The test client's responses point back at themselves, so it cannot be used here.)"""
    path, _, query = path.partition("?")
    data = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": io.StringIO(),
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/json" if body is not None else "",
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = HANDLER(environ)
    b"".join(response)
    return int(response.status_code)


@pytest.fixture
def cyclic_garbage() -> Iterator[Any]:
    """Counts the objects that only the cyclic collector could free."""
    gc.collect()
    gc.disable()
    try:

        def count() -> list[str]:
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                gc.collect()
                found = [type(o).__qualname__ for o in gc.garbage]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.collect()  # what was kept for counting is freed now
            return found

        yield count
    finally:
        gc.enable()


def requests(tenant: Tenant) -> list[tuple[str, str, Any, int]]:
    contact = ContactFactory.create(tenant=tenant)
    job = JobFactory.create(tenant=tenant, contact=contact)
    missing = "00000000-0000-0000-0000-000000000000"
    return [
        ("GET", "/v1/contacts?limit=100", None, 200),
        ("GET", "/v1/contacts?limit=5&q=a", None, 200),
        ("GET", f"/v1/contacts/{contact.pk}", None, 200),
        ("GET", "/v1/jobs?limit=20&status=pending", None, 200),
        ("GET", f"/v1/jobs/{job.pk}", None, 200),
        ("GET", f"/v1/jobs/{job.pk}/files", None, 200),
        ("GET", "/v1/health", None, 200),
        ("POST", "/v1/contacts", {"name": "Ada", "email": "ada@example.com"}, 201),
        ("PATCH", f"/v1/contacts/{contact.pk}", {"company": "Analytical"}, 200),
        ("POST", "/v1/jobs", {"title": "Call", "contact_id": str(contact.pk)}, 201),
        ("PATCH", f"/v1/jobs/{job.pk}", {"title": "Call back"}, 200),
        ("GET", f"/v1/contacts/{missing}", None, 404),
        ("GET", "/v1/contacts?limit=0", None, 400),
        ("POST", "/v1/contacts", {"name": ""}, 400),
        ("DELETE", f"/v1/jobs/{job.pk}", None, 204),
    ]


@pytest.mark.django_db
def test_no_api_request_leaves_cyclic_garbage(
    tenant: Tenant, token: str, cyclic_garbage: Any
) -> None:
    ContactFactory.create_batch(30, tenant=tenant)
    cases = requests(tenant)
    for method, path, body, _status in cases:  # first calls fill the process's caches
        call(method, path, token, body)
    cases = requests(tenant)  # fresh objects: the deletes and creates above are done
    cyclic_garbage()  # what making them left
    for method, path, body, status in cases:
        assert call(method, path, token, body) == status, (method, path)
        assert (method, path, cyclic_garbage()) == (method, path, [])


@pytest.mark.django_db
def test_a_refused_token_leaves_no_cyclic_garbage(tenant: Tenant, cyclic_garbage: Any) -> None:
    for _ in range(2):
        assert call("GET", "/v1/contacts", None) == 401
        assert call("GET", "/v1/contacts", "pt_unknown_token") == 401
    assert Contact.objects.count() == 0
    # An unknown token is looked up in the database, with its tenant (`select_related`), and
    # Django's SQL compiler makes a recursive closure for every such query: a function, its
    # cell and its defaults. Nothing of the request's is left.
    left = [name for name in cyclic_garbage() if name not in {"function", "cell", "tuple"}]
    assert left == []
