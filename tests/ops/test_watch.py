from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from ops.models import BUCKET_FIELDS, MetricRollup, Release, Rollout, StatusEntry
from ops.rollouts.services import rollout_advance, rollout_create, rollout_start
from ops.rollouts.watch import watch_step
from portal.observability.metrics import BUCKETS_MS

pytestmark = pytest.mark.django_db


def succeeded(version: str = "1.0.0") -> Rollout:
    rollout = rollout_create(version=version, actor="t")
    rollout = rollout_start(rollout_id=rollout.pk, actor="t")
    while rollout.state == Rollout.State.RUNNING:
        rollout = rollout_advance(rollout_id=rollout.pk, actor="t")
    return rollout


def slow_health(version: str, count: int = 200, at_ms: float = 400) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    MetricRollup.objects.create(
        process="watch-test",
        minute=minute,
        version=version,
        endpoint="/v*/health",
        method="GET",
        status_class="2xx",
        count=count,
        sum_ms=at_ms * count,
        **{BUCKET_FIELDS[BUCKETS_MS.index(at_ms)]: count},
    )


def test_success_starts_a_24_hour_watch() -> None:
    rollout = succeeded()
    assert rollout.watch_until is not None
    assert rollout.finished_at is not None
    assert rollout.watch_until - rollout.finished_at == timedelta(hours=24)
    assert Release.objects.get(version="1.0.0").stability == "watching"


def test_a_quiet_watch_checks_and_is_throttled() -> None:
    succeeded()
    assert watch_step() == "watch_check: 1.0.0 ok"
    assert watch_step() is None  # within ROLLOUT_WATCH_INTERVAL_SECONDS
    assert watch_step(force=True) == "watch_check: 1.0.0 ok"


def test_a_breach_marks_the_release_and_opens_an_incident(
    django_capture_on_commit_callbacks: Any,
) -> None:
    rollout = succeeded()
    slow_health("1.0.0")
    slow_health("0.9.0", at_ms=10)  # other versions do not count
    with django_capture_on_commit_callbacks(execute=True):
        assert watch_step() == "watch_breach: 1.0.0 breached"
    assert Release.objects.get(version="1.0.0").stability == "breached"
    event = rollout.events.get(action="watch_breach")
    assert "Health p95 < 50 ms: violated" in event.reason
    incident = StatusEntry.objects.get(kind="incident")
    assert "breached an SLO" in incident.title


def test_the_end_of_the_watch_records_a_review(settings: Any) -> None:
    rollout = succeeded()
    Rollout.objects.filter(pk=rollout.pk).update(watch_until=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("rollout", "tick", stdout=out)
    assert "watch_review: 1.0.0 passed" in out.getvalue()
    assert Release.objects.get(version="1.0.0").stability == "stable"
    assert rollout.events.filter(action="watch_review").exists()
    assert watch_step(force=True) is None  # the watch is over
