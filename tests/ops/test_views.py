"""The staff console and the status page through Django's test client: who may see and do
what, CSRF, confirmations, and what each action changes (or does not)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ops.models import (
    ControllerHeartbeat,
    Gate,
    GateResult,
    Rollout,
    RolloutEvent,
    RolloutPlan,
    StatusEntry,
)
from ops.rollouts.services import rollout_create, rollout_start
from ops.slo.metrics_store import recorder

S = Rollout.State
PASSWORD = "a-long-test-password"


@pytest.fixture
def operator(db: None) -> User:
    user = User.objects.create_user("olga", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="operate_rollout"))
    return user


@pytest.fixture
def viewer(db: None) -> User:
    return User.objects.create_user("vic", password=PASSWORD, is_staff=True)


@pytest.fixture
def customer(db: None) -> User:
    """Logged in, but no staff account: must get nothing from the console."""
    return User.objects.create_user("carl", password=PASSWORD)


def client_for(user: User | None, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def running(db: None) -> Rollout:
    rollout = rollout_create(version="2.0.0", actor="alice", baseline_version="1.9.0")
    return rollout_start(rollout_id=rollout.pk, actor="alice")


def action_url(rollout: Rollout, action: str) -> str:
    return reverse("ops:rollout-action", args=[rollout.pk, action])


def pages(rollout: Rollout) -> list[str]:
    return [
        reverse("ops:rollouts"),
        reverse("ops:rollout", args=[rollout.pk]),
        reverse("ops:rollout-report", args=[rollout.pk]),
        reverse("ops:slo"),
        reverse("ops:rollout-start"),
        action_url(rollout, "advance"),
    ]


def test_it_sends_anonymous_visitors_to_the_login_page(running: Rollout) -> None:
    for url in pages(running):
        response = client_for(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_it_refuses_accounts_that_are_not_staff(running: Rollout, customer: User) -> None:
    for url in pages(running):
        response = client_for(customer).get(url)
        assert response.status_code == 403, url
        assert b"staff accounts only" in response.content
    response = client_for(customer).post(action_url(running, "pause"))
    assert response.status_code == 403
    running.refresh_from_db()
    assert running.state == S.RUNNING


def test_staff_without_the_permission_watch_but_cannot_act(running: Rollout, viewer: User) -> None:
    client = client_for(viewer)
    detail = client.get(reverse("ops:rollout", args=[running.pk]))
    assert detail.status_code == 200
    assert b"Advance" not in detail.content
    assert b"operate rollouts" in detail.content
    for action in ("pause", "abort", "advance", "gates"):
        assert client.post(action_url(running, action), {"reason": "x"}).status_code == 403
    assert client.get(reverse("ops:rollout-start")).status_code == 403
    assert client.post(reverse("ops:rollout-start"), {"version": "3.0.0"}).status_code == 403
    running.refresh_from_db()
    assert (running.state, running.weight) == (S.RUNNING, 5)
    assert not Rollout.objects.filter(release__version="3.0.0").exists()


def test_it_refuses_a_post_without_a_csrf_token(running: Rollout, operator: User) -> None:
    client = client_for(operator, csrf=True)
    response = client.post(action_url(running, "abort"), {"confirmed": "yes", "reason": "x"})
    assert response.status_code == 403
    running.refresh_from_db()
    assert running.state == S.RUNNING


def test_it_accepts_a_post_with_the_pages_csrf_token(running: Rollout, operator: User) -> None:
    client = client_for(operator, csrf=True)
    client.get(action_url(running, "abort"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        action_url(running, "abort"),
        {"confirmed": "yes", "reason": "bad canary", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 303
    running.refresh_from_db()
    assert running.state == S.ABORTED


def test_it_starts_a_rollout_from_the_form(operator: User) -> None:
    response = client_for(operator).post(
        reverse("ops:rollout-start"),
        {
            "version": "2.1.0",
            "baseline_version": "2.0.0",
            "driver": "record",
            "plan": RolloutPlan.objects.get(is_default=True).pk,
        },
    )
    rollout = Rollout.objects.get(release__version="2.1.0")
    assert response.status_code == 303
    assert response["Location"] == reverse("ops:rollout", args=[rollout.pk])
    assert (rollout.state, rollout.phase_index, rollout.weight) == (S.RUNNING, 1, 5)
    assert rollout.started_by == "olga"
    assert list(rollout.events.values_list("action", "actor")) == [
        ("create", "olga"),
        ("start", "olga"),
    ]


def test_a_downgrade_from_the_form_needs_a_reason_to_force(operator: User) -> None:
    plan = RolloutPlan.objects.get(is_default=True).pk
    data = {"version": "1.9.0", "baseline_version": "2.0.0", "driver": "record", "plan": plan}
    refused = client_for(operator).post(reverse("ops:rollout-start"), data)
    assert refused.status_code == 400
    assert b"a downgrade" in refused.content
    assert not Rollout.objects.exists()
    forced = client_for(operator).post(
        reverse("ops:rollout-start"), {**data, "force_reason": "2.0.0 corrupts uploads"}
    )
    assert forced.status_code == 303
    event = Rollout.objects.get().events.get(action="create")
    assert event.reason.endswith("2.0.0 corrupts uploads")


@pytest.mark.parametrize(
    "data",
    [
        {"version": "", "driver": "record"},
        {"version": "2.1.0; rm -rf /", "driver": "record"},
        {"version": "2.1.0", "driver": "teleport"},
        {"version": "2.1.0", "driver": "record", "image": "ghcr.io/acme/api:'v2"},
        {"version": "2.1.0", "driver": "record", "image": "api:v2 --server=https://evil"},
        {"version": "2.1.0", "driver": "record", "image": "-oops"},
    ],
)
def test_it_refuses_a_bad_start_form_and_creates_nothing(
    operator: User, data: dict[str, Any]
) -> None:
    response = client_for(operator).post(reverse("ops:rollout-start"), data)
    assert response.status_code == 400
    assert b'class="error"' in response.content
    assert not Rollout.objects.exists()


def test_it_refuses_a_second_rollout_in_flight(running: Rollout, operator: User) -> None:
    plan = running.plan.pk
    response = client_for(operator).post(
        reverse("ops:rollout-start"), {"version": "3.0.0", "driver": "record", "plan": plan}
    )
    assert response.status_code == 400
    assert b"Another rollout is in flight" in response.content
    assert Rollout.objects.count() == 1


def test_advance_asks_for_confirmation_first(running: Rollout, operator: User) -> None:
    client = client_for(operator)
    unconfirmed = client.post(action_url(running, "advance"), {"expected_phase": 1})
    assert unconfirmed.status_code == 303
    assert unconfirmed["Location"] == action_url(running, "advance")
    running.refresh_from_db()
    assert running.phase_index == 1
    page = client.get(action_url(running, "advance"))
    assert b"Yes, advance" in page.content
    assert b"No gate of phase 1 has been judged" in page.content
    client.post(action_url(running, "advance"), {"expected_phase": 1, "confirmed": "yes"})
    running.refresh_from_db()
    assert (running.phase_index, running.weight) == (2, 25)
    assert running.events.last().actor == "olga"  # type: ignore[union-attr]


def test_an_advance_that_does_not_say_which_phase_was_judged_is_refused(
    running: Rollout, operator: User
) -> None:
    response = client_for(operator).post(action_url(running, "advance"), {"confirmed": "yes"})
    assert response.status_code == 400
    running.refresh_from_db()
    assert (running.phase_index, running.weight) == (1, 5)


def test_two_operators_pressing_advance_at_once_advance_once(
    running: Rollout, operator: User
) -> None:
    client = client_for(operator)
    for _ in range(2):  # both saw phase 1
        response = client.post(
            action_url(running, "advance"), {"expected_phase": 1, "confirmed": "yes"}
        )
    running.refresh_from_db()
    assert (running.phase_index, running.weight) == (2, 25)
    assert b"moved on since you looked" in client.get(response["Location"]).content


def test_abort_needs_a_reason_and_records_it(running: Rollout, operator: User) -> None:
    client = client_for(operator)
    refused = client.post(action_url(running, "abort"), {"confirmed": "yes", "reason": "  "})
    assert refused.status_code == 400
    assert b"Say why" in refused.content
    running.refresh_from_db()
    assert running.state == S.RUNNING
    client.post(action_url(running, "abort"), {"confirmed": "yes", "reason": "p99 creeping up"})
    running.refresh_from_db()
    assert (running.state, running.weight) == (S.ABORTED, 0)
    event = RolloutEvent.objects.get(rollout=running, action="abort")
    assert (event.actor, event.reason) == ("olga", "p99 creeping up")


def test_pause_and_resume_need_no_confirmation(running: Rollout, operator: User) -> None:
    client = client_for(operator)
    client.post(action_url(running, "pause"), {"expected_phase": 1})
    running.refresh_from_db()
    assert running.state == S.PAUSED
    client.post(action_url(running, "resume"), {"expected_phase": 1})
    running.refresh_from_db()
    assert running.state == S.RUNNING


def test_an_illegal_action_changes_nothing_and_says_why(running: Rollout, operator: User) -> None:
    client = client_for(operator)
    response = client.post(action_url(running, "resume"), follow=True)
    assert b"Cannot resume" in response.content
    running.refresh_from_db()
    assert running.state == S.RUNNING
    assert client.post(action_url(running, "teleport")).status_code == 404


def test_the_detail_page_shows_only_legal_actions(running: Rollout, operator: User) -> None:
    content = client_for(operator).get(reverse("ops:rollout", args=[running.pk])).content
    for label in (b"Check gates now", b"Advance", b"Pause", b"Abort", b"Roll back"):
        assert label in content
    assert b">Resume<" not in content
    assert b">Start<" not in content


def test_the_live_fragment_is_the_live_region_only(running: Rollout, operator: User) -> None:
    response = client_for(operator).get(
        reverse("ops:rollout", args=[running.pk]), {"fragment": "live"}
    )
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<div class="live-root" data-state="running"')
    assert b"<html" not in response.content


def test_console_pages_have_a_strict_csp_and_are_never_cached(
    running: Rollout, operator: User
) -> None:
    response = client_for(operator).get(reverse("ops:rollout", args=[running.pk]))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]


def test_the_report_downloads_as_markdown(running: Rollout, viewer: User) -> None:
    response = client_for(viewer).get(reverse("ops:rollout-report", args=[running.pk]))
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert 'filename="rollout-' in response["Content-Disposition"]
    assert "2.0.0" in response.content.decode()


def test_the_slo_dashboard_charts_recorded_traffic(operator: User, settings: Any) -> None:
    for status in (200,) * 60 + (500,):
        recorder.observe("GET", "/v*/contacts", status, 42.0, "2.0.0")
    recorder.flush()
    response = client_for(operator).get(
        reverse("ops:slo"), {"window": "15m", "stable": "1.9.0", "canary": "2.0.0"}
    )
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert dashboard.point_count > 0
    contacts = next(p for p in dashboard.panels if p.endpoint == "/v*/contacts")
    canary = contacts.lanes[1]
    assert (canary.version, canary.totals.requests, canary.totals.errors) == ("2.0.0", 61, 1)
    assert contacts.lanes[0].totals.requests == 0  # stable: nothing recorded
    assert b'class="pt' in response.content
    assert b"Insufficient data" in response.content


def test_the_slo_dashboard_refuses_a_bad_window(operator: User) -> None:
    response = client_for(operator).get(reverse("ops:slo"), {"window": "7y"})
    assert response.status_code == 400


def test_the_status_page_is_public_and_says_operational(db: None) -> None:
    response = Client().get("/status")
    assert response.status_code == 200
    assert b"All systems operational" in response.content
    assert "public" in response["Cache-Control"]
    feed = Client().get("/status.json").json()
    assert feed["status"] == "operational"
    assert feed["ongoing"] == []
    assert feed["recent"] == []


def test_the_status_page_shows_maintenance_then_its_end(
    operator: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the notifier runs after commit
        rollout = rollout_create(version="2.0.0", actor="alice")
        rollout_start(rollout_id=rollout.pk, actor="alice")
    feed = Client().get("/status.json").json()
    assert feed["status"] == "maintenance"
    assert [e["kind"] for e in feed["ongoing"]] == ["maintenance"]
    with django_capture_on_commit_callbacks(execute=True):
        client_for(operator).post(
            action_url(rollout, "rollback"), {"confirmed": "yes", "reason": "errors"}
        )
    feed = Client().get("/status.json").json()
    assert feed["status"] == "operational"
    assert {e["kind"] for e in feed["recent"]} == {"maintenance", "rollback"}


def test_an_open_incident_outranks_maintenance(db: None) -> None:
    StatusEntry.objects.create(reference="m-1", kind="maintenance", title="Maintenance")
    StatusEntry.objects.create(reference="i-1", kind="incident", title="Errors on files")
    StatusEntry.objects.create(
        reference="i-0", kind="incident", title="Old", resolved_at=timezone.now()
    )
    feed = Client().get("/status.json").json()
    assert feed["status"] == "incident"
    assert sorted(e["reference"] for e in feed["ongoing"]) == ["i-1", "m-1"]
    assert [e["reference"] for e in feed["recent"]] == ["i-0"]


def test_the_admin_links_to_the_console(operator: User) -> None:
    admin = User.objects.create_superuser("root", password=PASSWORD)
    content = client_for(admin).get("/admin/").content
    assert reverse("ops:rollouts").encode() in content
    assert b"Ops console" in content


def test_favicon_points_at_the_static_icon(db: None) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("ops/favicon.svg")


def test_errors_on_console_pages_are_pages_and_the_api_keeps_problems(
    operator: User, running: Rollout
) -> None:
    client = client_for(operator)
    missing = client.get(reverse("ops:rollout", args=[99999]))
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/html")
    assert b"404 \xc2\xb7 Not Found" in missing.content
    api = client.get("/v1/nothing-here")
    assert api.status_code == 404
    assert api["Content-Type"] == "application/problem+json"
    forged = client_for(operator, csrf=True).post(action_url(running, "pause"))
    assert forged.status_code == 403
    assert b"CSRF verification failed: reload the page" in forged.content
    assert forged["Content-Type"].startswith("text/html")


def test_the_detail_page_queries_do_not_grow_with_its_history(
    running: Rollout, operator: User
) -> None:
    client = client_for(operator)
    url = reverse("ops:rollout", args=[running.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    before = queries()
    gate = Gate.objects.filter(phase__plan=running.plan).first()
    for attempt in range(1, 21):
        RolloutEvent.objects.create(rollout=running, actor="t", action="gates_checked")
        GateResult.objects.create(
            rollout=running, gate=gate, kind="smoke", phase_index=1, attempt=attempt, verdict="pass"
        )
    assert queries() == before


def test_the_page_says_when_no_controller_is_running(running: Rollout, viewer: User) -> None:
    url = reverse("ops:rollout", args=[running.pk])
    page = client_for(viewer).get(url).content.decode()
    assert "No controller has run yet" in page
    ControllerHeartbeat.objects.create(pk=1, last_tick_at=timezone.now() - timedelta(minutes=12))
    page = client_for(viewer).get(url).content.decode()
    assert "No controller has run since" in page
    ControllerHeartbeat.objects.filter(pk=1).update(last_tick_at=timezone.now())
    page = client_for(viewer).get(url).content.decode()
    assert 'data-controller="silent"' not in page
    assert "The controller judges this phase" in page or "Bake time is over" in page


def test_the_page_says_when_the_canary_url_answers_with_stable(
    running: Rollout, viewer: User
) -> None:
    ControllerHeartbeat.objects.create(pk=1, last_tick_at=timezone.now(), canary_version="1.9.0")
    page = client_for(viewer).get(reverse("ops:rollout", args=[running.pk])).content.decode()
    assert "The canary URL answers with the stable version (1.9.0)" in page
