"""The CLI as a newcomer meets it: no dead ends, exit codes that mean something, one timestamp
format."""

from __future__ import annotations

import json
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ops.management.commands.rollout import Command
from ops.models import Rollout
from ops.rollouts.services import rollout_create, rollout_start
from tests.factories import MetricRollupFactory, RolloutPlanFactory, SLObjectiveFactory

pytestmark = pytest.mark.django_db(transaction=True)
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_status_without_any_rollout_is_not_an_error() -> None:
    Rollout.objects.all().delete()
    assert run("rollout", "status").strip() == "No rollouts yet."
    assert json.loads(run("rollout", "status", "--json")) == []


def test_start_with_an_unknown_plan_lists_the_plans() -> None:
    RolloutPlanFactory.create(name="fast")
    with pytest.raises(CommandError, match=r"No plan 'nope'; plans: .*fast"):
        run("rollout", "start", "1.0.0", "--plan", "nope")


def test_check_judges_the_gates_now_and_moves_nothing(live_server: Any, settings: Any) -> None:
    settings.ROLLOUT_CANARY_URL = settings.ROLLOUT_STABLE_URL = live_server.url
    plan = RolloutPlanFactory.create(gates=[("canary_health", {}), ("tenant_isolation", {})])
    rollout = rollout_start(
        rollout_id=rollout_create(version="1.0.0", actor="alice", plan=plan).pk, actor="alice"
    )
    out = run("rollout", "check")
    assert "Checked 2 gate(s) of phase 1: all passed." in out
    rollout.refresh_from_db()
    assert (rollout.phase_index, rollout.weight) == (1, 5)
    bad = RolloutPlanFactory.create(gates=[("files_contract", {"rate_limit": "999"})])
    Rollout.objects.filter(pk=rollout.pk).update(plan=bad)
    with pytest.raises(CommandError) as raised:
        run("rollout", "check")
    assert raised.value.returncode == 1


def test_status_json_uses_the_apis_timestamps() -> None:
    plan = RolloutPlanFactory.create()
    rollout_create(version="1.0.0", actor="alice", plan=plan)
    events = json.loads(run("rollout", "status", "--json"))["events"]
    assert events
    assert all(RFC3339_MS.match(event["at"]) for event in events)


def test_slo_report_can_fail_a_cron_job_on_a_violation() -> None:
    SLObjectiveFactory.create(
        name="contacts fast", endpoint="/v*/contacts", threshold_ms=50, target=0.99
    )
    MetricRollupFactory.create(version="1.0.0", count=100, at_ms=250.0)
    assert "contacts fast" in run("slo_report")  # without the flag: a report, exit 0
    with pytest.raises(CommandError, match=r"Violated: .*contacts fast") as raised:
        run("slo_report", "--fail-on-violation")
    assert raised.value.returncode == 3


def test_advancing_over_a_failing_gate_needs_a_reason_and_says_so(
    live_server: Any, settings: Any
) -> None:
    settings.ROLLOUT_CANARY_URL = settings.ROLLOUT_STABLE_URL = live_server.url
    plan = RolloutPlanFactory.create(gates=[("files_contract", {"rate_limit": "999"})])
    plan.max_gate_failures = 5
    plan.save()
    rollout = rollout_start(
        rollout_id=rollout_create(version="1.0.0", actor="alice", plan=plan).pk, actor="alice"
    )
    with pytest.raises(CommandError):
        run("rollout", "check")  # records the failing result
    with pytest.raises(CommandError, match="needs a reason"):
        run("rollout", "advance", "--expect-phase", "1")
    run("rollout", "advance", "--expect-phase", "1", "--reason", "limit changed on purpose")
    rollout.refresh_from_db()
    assert rollout.phase_index == 2
    event = rollout.events.filter(action="advance").last()
    assert event is not None
    assert event.reason.startswith("Advanced by hand over a failing gate (files_contract)")
    report = run("rollout", "report", str(rollout.pk))
    assert "advanced over a failing gate by" in report


def test_every_argument_of_every_subcommand_has_help() -> None:
    parser = Command().create_parser("manage.py", "rollout")
    subparsers = next(a for a in parser._actions if a.dest == "action")
    missing = [
        f"{name} {action.dest}"
        for name, sub in subparsers.choices.items()  # type: ignore[union-attr]
        for action in sub._actions
        if action.dest != "help" and not action.help
    ]
    assert missing == []
