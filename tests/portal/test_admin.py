from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from portal.models import ApiToken, Tenant, hash_token
from tests.factories import JobFileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("ops", "ops@example.com", "a-long-passphrase")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "portal/tenant",
        "portal/apitoken",
        "contacts/contact",
        "jobs/job",
        "files/jobfile",
        "ops/slobjective",
        "ops/metricrollup",
        "ops/rolloutplan",
        "ops/rolloutphase",
        "ops/release",
        "ops/rollout",
        "ops/statusentry",
    ],
)
def test_every_model_has_a_searchable_changelist(staff: Client, tenant: Tenant, model: str) -> None:
    JobFileFactory.create(job__tenant=tenant)
    response = staff.get(f"/admin/{model}/", {"q": "a"})
    assert response.status_code == 200


def test_adding_a_token_shows_the_raw_value_once(staff: Client, tenant: Tenant) -> None:
    response = staff.post(
        "/admin/portal/apitoken/add/",
        {"tenant": tenant.pk, "name": "ops_token", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    match = re.search(r"(pt_[A-Za-z0-9]{8}_[A-Za-z0-9_-]+)", response.content.decode())
    assert match
    raw = match.group(1)
    token = ApiToken.objects.get(name="ops_token")
    assert token.key_hash == hash_token(raw)
    again = staff.get(f"/admin/portal/apitoken/{token.pk}/change/")
    assert raw not in again.content.decode()


def test_a_new_token_never_travels_in_a_cookie(staff: Client, tenant: Tenant) -> None:
    # The messages cookie is signed, not encrypted: the token is shown in the page instead.
    response = staff.post(
        "/admin/portal/apitoken/add/",
        {"tenant": tenant.pk, "name": "ops_token", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r"(pt_[A-Za-z0-9]{8}_[A-Za-z0-9_-]+)", response.content.decode())
    assert raw
    cookies = " ".join(morsel.value for morsel in response.cookies.values())
    assert raw.group(1) not in cookies
    assert "messages" not in response.cookies


def test_sign_in_attempts_are_throttled_per_address_and_per_username(
    client: Client, settings: Any
) -> None:
    settings.ADMIN_LOGIN_RATE = "3/m"
    codes = [
        client.post("/admin/login/", {"username": f"u{i}", "password": "x"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    # Another address, same username: the username's own count still applies.
    other = [
        client.post(
            "/admin/login/", {"username": "victim", "password": "x"}, REMOTE_ADDR=f"10.0.0.{i}"
        )
        for i in range(4)
    ]
    assert [r.status_code for r in other] == [200, 200, 200, 429]
    assert other[-1]["Retry-After"] == "60"
    assert "text/html" in other[-1]["Content-Type"]
    # Reading the page is never counted.
    assert client.get("/admin/login/").status_code == 200


@pytest.mark.parametrize("path", ["/admin/login/", "/v1/docs"])
def test_pages_for_people_carry_a_strict_policy(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script>" not in response.content.decode().replace(" ", "")


def test_the_admin_refuses_anonymous_users(client: Client) -> None:
    response = client.get("/admin/portal/tenant/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_rollout_pages_show_the_plan_and_its_gates(staff: Client) -> None:
    from ops.models import RolloutPlan
    from ops.rollouts.services import rollout_create, rollout_start

    plan = RolloutPlan.objects.get(name="default")
    assert staff.get(f"/admin/ops/rolloutplan/{plan.pk}/change/").status_code == 200
    phase = plan.phases.get(order=2)
    page = staff.get(f"/admin/ops/rolloutphase/{phase.pk}/change/").content.decode()
    assert "files_contract" in page
    rollout = rollout_start(rollout_id=rollout_create(version="1.0.0", actor="t").pk, actor="t")
    assert staff.get(f"/admin/ops/rollout/{rollout.pk}/change/").status_code == 200
