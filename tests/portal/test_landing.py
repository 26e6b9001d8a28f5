"""No dead ends at the front door: `/`, the docs with a trailing slash, the admin's View site."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_root_is_a_landing_page_with_the_way_on(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for link in ('href="/v1/docs"', 'href="/v1/schema"', 'href="/status"', 'href="/ops/"'):
        assert link in page


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/v1/docs/", "/v1/docs"),
        ("/v1/schema/", "/v1/schema"),
        ("/v1/schema/?format=json", "/v1/schema?format=json"),
    ],
)
def test_docs_and_schema_with_a_trailing_slash_redirect(
    client: Client, path: str, target: str
) -> None:
    response = client.get(path)
    assert response.status_code == 301
    assert response["Location"] == target


def test_the_admins_view_site_goes_to_the_landing_page() -> None:
    assert admin.site.site_url == "/"
