from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from contacts.models import Contact
from portal.models import Tenant
from tests.helpers import assert_problem, error_fields

URL = "/v1/contacts"
pytestmark = pytest.mark.django_db


def test_it_creates_a_contact_for_the_callers_tenant(api: APIClient, tenant: Tenant) -> None:
    payload = {"name": "Ada", "email": "ada@example.com", "phone": "+44 20 7946 0000"}
    response = api.post(URL, payload, format="json")
    assert response.status_code == 201
    body = response.json()
    contact = Contact.objects.get(pk=body["id"])
    assert contact.tenant == tenant
    assert (contact.name, contact.email, contact.company) == ("Ada", "ada@example.com", "")
    assert response["Location"] == f"{URL}/{contact.id}"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"name"}),
        ({"name": ""}, {"name"}),
        ({"name": "x" * 201}, {"name"}),
        ({"name": "Ada", "email": "not-an-email"}, {"email"}),
        ({"name": "Ada", "phone": "call me"}, {"phone"}),
        ({"name": "Ada", "id": "550e8400-e29b-41d4-a716-446655440000"}, {"id"}),
        ({"name": "Ada", "nickname": "A"}, {"nickname"}),
        ({"name": "\x00\u202e \u200b"}, {"name"}),
        ({"name": 12}, {"name"}),
        ({"name": "Ada", "company": 0}, {"company"}),
        ({"name": "Ada", "phone": 5551234}, {"phone"}),
    ],
)
def test_it_refuses_invalid_contacts_and_saves_nothing(
    api: APIClient, payload: dict[str, object], fields: set[str]
) -> None:
    body = assert_problem(api.post(URL, payload, format="json"), 400, "VALIDATION_ERROR")
    assert error_fields(body) == fields
    assert Contact.objects.count() == 0


def test_optional_fields_left_empty_read_back_as_null(api: APIClient) -> None:
    response = api.post(URL, {"name": "Ada", "email": None, "company": ""}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["phone"], body["company"]) == (None, None, None)
    assert Contact.objects.get(pk=body["id"]).email == ""


def test_it_refuses_a_json_array(api: APIClient) -> None:
    assert_problem(api.post(URL, [{"name": "A"}], format="json"), 400, "VALIDATION_ERROR")


def test_it_refuses_malformed_json(api: APIClient) -> None:
    response = api.post(URL, "{bad", content_type="application/json")
    assert_problem(response, 400, "MALFORMED_REQUEST")


def test_it_refuses_unsupported_media_types(api: APIClient) -> None:
    response = api.post(URL, "name=Ada", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_it_refuses_oversized_bodies(api: APIClient, settings: object) -> None:
    huge = '{"name": "' + "a" * (1024 * 1024 + 10) + '"}'
    response = api.post(URL, huge, content_type="application/json")
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert Contact.objects.count() == 0


def test_it_requires_a_token(anon: APIClient) -> None:
    assert_problem(anon.post(URL, {"name": "A"}, format="json"), 401, "UNAUTHENTICATED")
    assert Contact.objects.count() == 0


def test_invisible_and_direction_characters_are_removed_from_text(api: APIClient) -> None:
    response = api.post(
        "/v1/contacts",
        {"name": " \u202eAda\u200b Love\x00lace\u2066 ", "company": "\u202dAcme\ufeff"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["name"], response.json()["company"]) == ("Ada Lovelace", "Acme")


def test_the_length_limit_counts_what_was_sent(api: APIClient) -> None:
    # 201 characters, 2 of them invisible: over the schema's maxLength of 200, so refused.
    response = api.post("/v1/contacts", {"name": "\u200b\u200b" + "x" * 199}, format="json")
    assert_problem(response, 400, "VALIDATION_ERROR")
