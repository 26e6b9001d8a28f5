"""Fault injection into the one writer: every transition that moves traffic (advance,
promotion, rollback, abort) is killed at each step between two side effects, on the nginx
driver (a real upstream file; `nginx -t` and the reload stand in as `true`) and on a load
balancer that keeps what it was told (the record driver moves nothing, so it cannot show where
traffic went). At the moment of the kill, traffic is where the record says or where the
intent on the record is taking it, never anywhere else; after the controller resumes the
intent, or a person aborts over it, traffic and record agree exactly."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from ops.models import Rollout
from ops.rollouts import drivers, lanes, services
from ops.rollouts.lanes import Lanes
from ops.rollouts.reconciler import tick
from ops.rollouts.services import (
    rollout_abort,
    rollout_advance,
    rollout_create,
    rollout_rollback,
    rollout_start,
)
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db
S = Rollout.State
A, B = "10.0.0.1:3000", "10.0.0.2:3000"


class Killed(BaseException):
    """The process died here (BaseException: no `except Exception` of the code catches it)."""


class KeepingBalancer:
    """A load balancer that holds the last weights it was given (what AWS or nginx would)."""

    name = "keeping"
    shares: dict[str, int] = {}

    def set_weight(self, rollout: Rollout, weight: int, roles: Lanes) -> str:
        KeepingBalancer.shares = _shares(roles, weight)
        return f"kept {KeepingBalancer.shares}"


def _shares(roles: Lanes, weight: int) -> dict[str, int]:
    shares = {roles.stable_upstream: 100 - weight, roles.canary_upstream: weight}
    return {upstream: share for upstream, share in shares.items() if share}


@pytest.fixture(autouse=True)
def _lanes(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.NGINX_UPSTREAM_FILE = str(tmp_path / "upstream.conf")
    settings.NGINX_TEST_COMMAND = "true"
    settings.NGINX_RELOAD_COMMAND = "true"
    settings.ROLLOUT_STABLE_UPSTREAM = A
    settings.ROLLOUT_CANARY_UPSTREAM = B
    monkeypatch.setitem(drivers.DRIVERS, "keeping", KeepingBalancer)
    KeepingBalancer.shares = {A: 100}


def traffic(driver: str) -> dict[str, int]:
    """Where the driver sent traffic, by upstream."""
    if driver == "keeping":
        return dict(KeepingBalancer.shares)
    path = Path(settings.NGINX_UPSTREAM_FILE)
    if not path.exists():
        return {A: 100}
    return {m[0]: int(m[1]) for m in re.findall(r"server (\S+) weight=(\d+);", path.read_text())}


def recorded(rollout: Rollout) -> dict[str, int]:
    """Where the record says traffic goes."""
    rollout.refresh_from_db()
    return _shares(lanes.current(), rollout.weight)


def intended(rollout: Rollout) -> dict[str, int]:
    """Where the intent on the record is taking traffic."""
    rollout.refresh_from_db()
    intent = rollout.intent or {}
    if intent.get("weight") is None:
        return recorded(rollout)
    return _shares(lanes.roles(bool(intent["swapped"])), int(intent["weight"]))


def kill_at(monkeypatch: pytest.MonkeyPatch, step: str) -> list[str]:
    reached: list[str] = []

    def checkpoint(name: str, intent: dict[str, Any]) -> None:
        reached.append(name)
        if name == step:
            raise Killed(step)

    monkeypatch.setattr(services, "checkpoint", checkpoint)
    return reached


def at_phase(driver: str, phase: int, **plan: Any) -> Rollout:
    the_plan = RolloutPlanFactory.create(
        phase_commands={2: ["true"]}, rollback_commands=["true"], cleanup_commands=["true"], **plan
    )
    rollout = rollout_create(version="2.0.0", actor="alice", plan=the_plan, driver=driver)
    rollout = rollout_start(rollout_id=rollout.pk, actor="alice")
    while rollout.phase_index < phase:
        rollout = rollout_advance(
            rollout_id=rollout.pk, actor="alice", expected_phase=rollout.phase_index
        )
    return rollout


def resume_by_the_controller(rollout: Rollout) -> None:
    """The process is gone: its intent goes stale, and the next tick carries it out once."""
    rollout.refresh_from_db()
    intent = dict(rollout.intent or {})
    intent["at"] = (timezone.now() - timedelta(days=1)).isoformat()
    Rollout.objects.filter(pk=rollout.pk).update(intent=intent)
    assert tick().action == "resumed"


FLOWS: dict[str, tuple[int, Any, list[str], str]] = {
    # flow: (phase it starts in, the action, the steps it passes, the state it ends in)
    "advance": (
        1,
        lambda r: rollout_advance(rollout_id=r.pk, actor="bob", expected_phase=1),
        ["intent_recorded", "commands_run", "traffic_moved"],
        S.RUNNING,
    ),
    "promotion": (
        4,
        lambda r: rollout_advance(rollout_id=r.pk, actor="bob", expected_phase=4),
        ["intent_recorded", "traffic_moved", "cleanup_run"],
        S.SUCCEEDED,
    ),
    "rollback": (
        3,
        lambda r: rollout_rollback(rollout_id=r.pk, actor="bob", reason="bad"),
        ["intent_recorded", "traffic_moved", "rollback_commands_run"],
        S.ROLLED_BACK,
    ),
    "abort": (
        2,
        lambda r: rollout_abort(rollout_id=r.pk, actor="bob", reason="stop"),
        ["intent_recorded", "traffic_moved", "rollback_commands_run"],
        S.ABORTED,
    ),
}
CASES = [
    (driver, flow, step)
    for driver in ("nginx", "keeping")
    for flow, (_, _, steps, _) in FLOWS.items()
    for step in steps
]


@pytest.mark.parametrize(("driver", "flow", "step"), CASES)
def test_killed_at_any_step_the_controller_finishes_it_and_traffic_agrees(
    monkeypatch: pytest.MonkeyPatch, driver: str, flow: str, step: str
) -> None:
    phase, act, steps, final = FLOWS[flow]
    rollout = at_phase(driver, phase)
    before = recorded(rollout)
    assert traffic(driver) == before
    reached = kill_at(monkeypatch, step)
    with pytest.raises(Killed):
        act(rollout)
    assert reached == steps[: steps.index(step) + 1]
    # At the instant of the kill: where the record was, or where its intent is going.
    assert traffic(driver) in (before, intended(rollout))
    assert rollout.intent is not None

    monkeypatch.setattr(services, "checkpoint", lambda name, intent: None)
    resume_by_the_controller(rollout)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.intent) == (final, None)
    assert traffic(driver) == recorded(rollout)
    assert rollout.events.filter(action=("complete" if flow == "promotion" else flow)).count() == 1
    if flow == "promotion":
        # The new version's lane serves everything and is the stable lane now.
        assert (lanes.current().stable_upstream, traffic(driver)) == (B, {B: 100})
    elif flow in {"rollback", "abort"}:
        assert traffic(driver) == {A: 100}


@pytest.mark.parametrize("driver", ["nginx", "keeping"])
@pytest.mark.parametrize("step", FLOWS["promotion"][2])
def test_a_rollback_over_a_killed_promotion_sends_traffic_to_the_old_version(
    monkeypatch: pytest.MonkeyPatch, driver: str, step: str
) -> None:
    rollout = at_phase(driver, 4)
    kill_at(monkeypatch, step)
    with pytest.raises(Killed):
        rollout_advance(rollout_id=rollout.pk, actor="bob", expected_phase=4)
    monkeypatch.setattr(services, "checkpoint", lambda name, intent: None)
    # The guard (or a person) rolls back while the promotion's intent is still on the record.
    done = rollout_rollback(rollout_id=rollout.pk, actor="controller", reason="guard breach")
    assert (done.state, done.weight, lanes.current().swapped) == (S.ROLLED_BACK, 0, False)
    assert traffic(driver) == recorded(done) == {A: 100}
    # The dead promotion, had its process lived on, changes nothing afterwards.
    assert tick().action != "resumed"
    assert traffic(driver) == {A: 100}


def test_a_promotion_resumed_twice_swaps_the_lanes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rollout = at_phase("nginx", 4)
    kill_at(monkeypatch, "cleanup_run")
    with pytest.raises(Killed):
        rollout_advance(rollout_id=rollout.pk, actor="bob", expected_phase=4)
    intent = dict(Rollout.objects.get(pk=rollout.pk).intent or {})
    monkeypatch.setattr(services, "checkpoint", lambda name, intent: None)
    services._carry_out(rollout.pk, intent)
    # A second carrier of the same intent (two controllers that both found it stale).
    with pytest.raises(services.SupersededError):
        services._carry_out(rollout.pk, intent)
    assert (lanes.current().swapped, traffic("nginx")) == (True, {B: 100})


def test_the_cli_shows_an_action_under_way_with_where_it_takes_traffic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rollout = at_phase("nginx", 1)
    kill_at(monkeypatch, "traffic_moved")
    with pytest.raises(Killed):
        rollout_advance(rollout_id=rollout.pk, actor="bob", expected_phase=1)
    out = StringIO()
    call_command("rollout", "status", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert (body["weight"], body["intent"]["action"], body["intent"]["weight"]) == (
        5,
        "advance",
        25,
    )
    assert traffic("nginx") == {A: 75, B: 25}  # where the intent said it would be
    line = StringIO()
    call_command("rollout", "status", stdout=line)
    assert "advance to 25% under way since" in line.getvalue()
