"""Every way a traffic driver can fail is a driver failure: an abort always ends at weight 0
or in "rollback pending" with an alert, never a traceback, and the controller survives it.
The nginx driver writes a real file; `nginx -t` and the reload are stand-in commands."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from ops.models import Rollout, TrafficLanes
from ops.rollouts import drivers
from ops.rollouts.lanes import Lanes
from ops.rollouts.reconciler import retry_rollback
from ops.rollouts.services import (
    RolloutError,
    SupersededError,
    rollout_abort,
    rollout_advance,
    rollout_create,
    rollout_start,
)
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db
S = Rollout.State


@pytest.fixture
def nginx(settings: Any, tmp_path: Path) -> Any:
    settings.NGINX_UPSTREAM_FILE = str(tmp_path / "conf.d" / "upstream.conf")
    settings.NGINX_TEST_COMMAND = "true"
    settings.NGINX_RELOAD_COMMAND = "true"
    return settings


def retry_now(rollout: Rollout) -> str:
    """The controller's next retry, its back-off already waited out."""
    rollout.events.update(at=timezone.now() - timedelta(hours=1))
    return retry_rollback(Rollout.objects.get(pk=rollout.pk), "controller").action


def running(driver: str = "nginx") -> Rollout:
    plan = RolloutPlanFactory.create()
    rollout = rollout_create(version="2.0.0", actor="alice", plan=plan, driver=driver)
    return rollout_start(rollout_id=rollout.pk, actor="alice")


class Exploding:
    """A driver whose library raises something of its own (not an OSError, not ours)."""

    name = "exploding"

    def set_weight(self, rollout: Rollout, weight: int, roles: Lanes) -> str:
        raise RuntimeError("the SDK's own error")


def _enospc(*args: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


FAULTS: dict[str, Any] = {
    # How the upstream file or the reload can fail; each is applied after phase 1 started.
    "missing directory": lambda s, tmp, mp: setattr(
        s, "NGINX_UPSTREAM_FILE", str(tmp / "a-file" / "upstream.conf")
    ),
    "read-only file system": lambda s, tmp, mp: setattr(
        s, "NGINX_UPSTREAM_FILE", "/proc/portal-upstream.conf"
    ),
    # A full disk cannot be made here without privileges: fsync answers as a full disk would.
    "disk full": lambda s, tmp, mp: mp.setattr(os, "fsync", _enospc),
    "config refused": lambda s, tmp, mp: setattr(s, "NGINX_TEST_COMMAND", "false"),
    "reload missing": lambda s, tmp, mp: setattr(s, "NGINX_RELOAD_COMMAND", "/nonexistent/nginx"),
    "reload hangs": lambda s, tmp, mp: _hang(s),
}


def _hang(settings: Any) -> None:
    settings.NGINX_RELOAD_COMMAND = "sleep 5"
    settings.ROLLOUT_DRIVER_TIMEOUT_SECONDS = 1


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_abort_the_nginx_driver_cannot_carry_out_is_pending_and_alerted(
    nginx: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    rollout = running()
    (tmp_path / "a-file").write_text("not a directory")
    FAULTS[fault](nginx, tmp_path, monkeypatch)
    with (
        caplog.at_level(logging.ERROR, logger="portal.rollouts"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        done = rollout_abort(rollout_id=rollout.pk, actor="bob", reason="stop")
    assert (done.state, done.weight, done.rollback_target, done.intent) == (
        S.ROLLBACK_PENDING,
        5,
        S.ABORTED,
        None,
    )
    event = done.events.get(action="rollback_pending")
    assert "could not set 0%" in event.output
    # The operators' alert (the log by default; webhooks go through the outbox).
    assert "ALERT: rollback of Portal API 2.0.0 is pending" in caplog.text


def test_a_library_error_is_a_driver_failure_and_the_retry_gets_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(drivers.DRIVERS, "exploding", Exploding)
    rollout = running("record")
    Rollout.objects.filter(pk=rollout.pk).update(driver="exploding")
    with pytest.raises(RolloutError, match="RuntimeError: the SDK's own error"):
        rollout_advance(rollout_id=rollout.pk, actor="bob", expected_phase=1)
    done = rollout_abort(rollout_id=rollout.pk, actor="bob", reason="stop")
    assert done.state == S.ROLLBACK_PENDING
    Rollout.objects.filter(pk=rollout.pk).update(driver="record")
    assert retry_now(done) == "rolled_back"
    assert Rollout.objects.get(pk=rollout.pk).state == S.ABORTED


@pytest.mark.django_db(transaction=True)  # the test's own transaction would hide the answer
def test_no_database_transaction_is_open_while_the_driver_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    real = drivers.drive

    def watching(*args: Any) -> str:
        seen.append(transaction.get_connection().in_atomic_block)
        return real(*args)

    monkeypatch.setattr("ops.rollouts.services.drive", watching)
    rollout = running("record")
    rollout_advance(rollout_id=rollout.pk, actor="bob", expected_phase=1)
    assert seen == [False, False]


def test_an_abort_waits_for_the_traffic_lease_and_takes_an_expired_one(settings: Any) -> None:
    settings.ROLLOUT_DRIVER_TIMEOUT_SECONDS = 1
    rollout = running("record")
    # Another process holds the lease (its driver call is under way) and never gives it back.
    TrafficLanes.objects.update_or_create(
        pk=1,
        defaults={
            "lease_holder": "another-intent",
            "lease_expires_at": timezone.now() + timedelta(seconds=60),
        },
    )
    done = rollout_abort(rollout_id=rollout.pk, actor="bob", reason="stop")
    assert done.state == S.ROLLBACK_PENDING
    assert "being moved by another action" in done.events.get(action="rollback_pending").output
    # Once its lease has expired (the holder died), the retry moves traffic.
    TrafficLanes.objects.filter(pk=1).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert retry_now(done) == "rolled_back"
    assert TrafficLanes.objects.get(pk=1).lease_holder == ""


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement_timeout is PostgreSQL's (CI's PG pass)"
)
@pytest.mark.django_db(transaction=True)
def test_a_driver_call_longer_than_the_statement_timeout_does_not_break_an_abort(
    nginx: Any,
) -> None:
    """A reload slower than DB_STATEMENT_TIMEOUT_MS (5 s) while a person aborts: the abort
    waits for the traffic lease (no lock wait to time out), then moves traffic to 0 %."""
    rollout = running()
    nginx.NGINX_RELOAD_COMMAND = "sleep 7"
    outcome: list[BaseException | Rollout] = []

    def advance() -> None:
        try:
            outcome.append(rollout_advance(rollout_id=rollout.pk, actor="ctl", expected_phase=1))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=advance)
    worker.start()
    time.sleep(1.5)
    nginx.NGINX_RELOAD_COMMAND = "true"
    done = rollout_abort(rollout_id=rollout.pk, actor="bob", reason="stop")
    worker.join(30)
    assert (done.state, done.weight) == (S.ABORTED, 0)
    assert isinstance(outcome[0], SupersededError)
    assert "weight=100;" in Path(nginx.NGINX_UPSTREAM_FILE).read_text()
