"""Sessions, CSRF, auth and messages run for the staff pages, never for the token API."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from portal.http.staff import check_staff_csrf_cookie, check_staff_middleware

pytestmark = pytest.mark.django_db


def test_the_api_never_touches_a_session(api: APIClient, monkeypatch: Any) -> None:
    from django.contrib.sessions.middleware import SessionMiddleware

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a session was loaded for an API request")

    monkeypatch.setattr(SessionMiddleware, "process_request", refuse)
    for path in ("/v1/health", "/v1/contacts", "/metrics"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response, path
        assert "Vary" not in response or "Cookie" not in response["Vary"], path


def test_the_staff_pages_keep_sessions_and_csrf() -> None:
    User.objects.create_superuser("root", password="pw-123456789")
    client = Client(enforce_csrf_checks=True)
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert "csrftoken" in login.cookies
    # A POST without the CSRF token is refused by CsrfViewMiddleware's process_view.
    assert client.post("/admin/login/", {"username": "root", "password": "x"}).status_code == 403
    token = login.cookies["csrftoken"].value
    signed_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": "pw-123456789", "csrfmiddlewaretoken": token},
    )
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200  # the session carries the login


def test_the_check_names_what_the_admin_needs(settings: Any) -> None:
    assert check_staff_middleware() == []
    settings.STAFF_MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
    assert [e.id for e in check_staff_middleware()] == ["portal.E001"]
    settings.STAFF_MIDDLEWARE = [
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ]
    assert [e.id for e in check_staff_middleware()] == ["portal.E002"]


def test_the_csrf_cookie_must_be_secure_in_production(settings: Any) -> None:
    settings.CSRF_COOKIE_SECURE = False
    assert [w.id for w in check_staff_csrf_cookie()] == ["portal.W001"]
    settings.CSRF_COOKIE_SECURE = True
    assert check_staff_csrf_cookie() == []
