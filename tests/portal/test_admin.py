from __future__ import annotations

import re

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


def test_the_admin_refuses_anonymous_users(client: Client) -> None:
    response = client.get("/admin/portal/tenant/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_rollout_pages_show_the_plan_and_its_gates(staff: Client) -> None:
    from ops.models import RolloutPlan
    from ops.rollouts import rollout_create, rollout_start

    plan = RolloutPlan.objects.get(name="default")
    assert staff.get(f"/admin/ops/rolloutplan/{plan.pk}/change/").status_code == 200
    phase = plan.phases.get(order=2)
    page = staff.get(f"/admin/ops/rolloutphase/{phase.pk}/change/").content.decode()
    assert "files_contract" in page
    rollout = rollout_start(rollout_id=rollout_create(version="1.0.0", actor="t").pk, actor="t")
    assert staff.get(f"/admin/ops/rollout/{rollout.pk}/change/").status_code == 200
