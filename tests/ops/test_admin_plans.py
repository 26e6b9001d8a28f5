"""Plans edited in the admin: gate kinds are choices, bad params and bad command templates are
refused with a message, before any rollout runs on them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from ops.admin import GateForm, PhaseForm
from ops.rollouts.gates import CATALOGUE
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db


def gate_form(kind: str, params: Any) -> GateForm:
    return GateForm(data={"order": 1, "kind": kind, "params": params, "description": ""})


def test_gate_kinds_are_the_catalogues() -> None:
    choices = {value for value, _ in GateForm().fields["kind"].choices}  # type: ignore[attr-defined]
    assert choices == set(CATALOGUE)
    assert not gate_form("latncy", "{}").is_valid()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{"treshold_ms": 50}', "unknown parameter 'treshold_ms'"),
        ('{"threshold_ms": 55}', "histogram bucket bound"),
        ('{"quantile": 95}', "between 0 and 1"),
    ],
)
def test_bad_params_are_refused_with_a_message(params: str, message: str) -> None:
    form = gate_form("latency", params)
    assert not form.is_valid()
    assert message in " ".join(str(e) for e in form.errors["params"])


def test_good_params_pass() -> None:
    assert gate_form("latency", '{"threshold_ms": 50, "quantile": 0.95}').is_valid()


def test_phase_commands_with_unknown_placeholders_are_refused() -> None:
    plan = RolloutPlanFactory.create(phases=0)
    form = PhaseForm(
        data={
            "plan": plan.pk,
            "order": 1,
            "weight": 5,
            "bake_seconds": 60,
            "commands": '["deploy {verison}"]',
        }
    )
    assert not form.is_valid()
    assert "unknown placeholders" in " ".join(str(e) for e in form.errors["commands"])


def test_the_phase_page_renders_with_its_gate_choices(client: Client) -> None:
    staff = User.objects.create_superuser("root", "root@example.com", "pw-Secret-1")
    client.force_login(staff)
    plan = RolloutPlanFactory.create(gates=[("smoke", {})])
    phase = plan.phases.first()
    assert phase is not None
    page = client.get(f"/admin/ops/rolloutphase/{phase.pk}/change/")
    assert page.status_code == 200
    assert "canary_health — " in page.content.decode()


def test_a_phase_can_be_added_on_its_own_admin_page(client: Client) -> None:
    staff = User.objects.create_superuser("root", "root@example.com", "pw-Secret-1")
    client.force_login(staff)
    plan = RolloutPlanFactory.create(phases=0)
    response = client.post(
        "/admin/ops/rolloutphase/add/",
        {
            "plan": plan.pk,
            "order": 1,
            "weight": 100,
            "bake_seconds": 60,
            "commands": "[]",
            "gates-TOTAL_FORMS": "0",
            "gates-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert plan.phases.count() == 1


def test_a_plan_in_use_is_shown_read_only_and_gets_no_new_phase(client: Client) -> None:
    from ops.rollouts.services import rollout_create, rollout_start

    staff = User.objects.create_superuser("root", "root@example.com", "pw-Secret-1")
    client.force_login(staff)
    plan = RolloutPlanFactory.create(gates=[("smoke", {})])
    rollout_start(rollout_id=rollout_create(version="2.0.0", actor="a", plan=plan).pk, actor="a")
    page = client.get(f"/admin/ops/rolloutplan/{plan.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # a view page, nothing to save
    response = client.post(
        "/admin/ops/rolloutphase/add/",
        {
            "plan": plan.pk,
            "order": 5,
            "weight": 100,
            "bake_seconds": 60,
            "commands": "[]",
            "gates-TOTAL_FORMS": "0",
            "gates-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "in use by a rollout in flight" in response.content.decode()
    assert plan.phases.count() == 4
