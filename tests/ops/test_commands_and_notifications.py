from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from ops.models import Notification, Rollout, RolloutPlan, StatusEntry
from ops.rollouts.notify import deliver_notifications
from ops.rollouts.services import (
    CommandFailedError,
    rollout_abort,
    rollout_advance,
    rollout_create,
    rollout_start,
)
from tests.factories import RolloutPlanFactory

pytestmark = pytest.mark.django_db


def plan(**fields: Any) -> RolloutPlan:
    return RolloutPlanFactory.create(weights=(5, 100), **fields)


def test_phase_commands_run_before_traffic_moves_and_are_logged(
    django_capture_on_commit_callbacks: Any,
) -> None:
    made = plan(phase_commands={1: ["echo deploying {image} for {version} at {weight}%"]})
    rollout = rollout_create(version="1.0.0", actor="t", plan=made, image="portal-api:v1.0.0")
    with django_capture_on_commit_callbacks(execute=True):
        rollout = rollout_start(rollout_id=rollout.pk, actor="t")
    output = rollout.events.get(action="start").output
    assert "deploying portal-api:v1.0.0 for 1.0.0 at 5%" in output
    assert output.index("deploying") < output.index("recorded canary weight")


def test_a_failing_deploy_command_refuses_the_phase() -> None:
    made = plan(phase_commands={2: ["false"]})
    rollout = rollout_create(version="1.0.0", actor="t", plan=made)
    rollout_start(rollout_id=rollout.pk, actor="t")
    with pytest.raises(CommandFailedError, match="exit status 1"):
        rollout_advance(rollout_id=rollout.pk, actor="t")
    assert Rollout.objects.get(pk=rollout.pk).weight == 5


def test_rollback_and_cleanup_commands_run(django_capture_on_commit_callbacks: Any) -> None:
    made = plan(rollback_commands=["echo scale canary to 0"], cleanup_commands=["echo cleanup"])
    first = rollout_create(version="1.0.0", actor="t", plan=made)
    rollout_start(rollout_id=first.pk, actor="t")
    aborted = rollout_abort(rollout_id=first.pk, actor="t", reason="stop")
    assert "scale canary to 0" in aborted.events.get(action="abort").output
    second = rollout_create(version="1.0.1", actor="t", plan=made)
    rollout_start(rollout_id=second.pk, actor="t")
    rollout_advance(rollout_id=second.pk, actor="t")
    done = rollout_advance(rollout_id=second.pk, actor="t")
    assert done.state == Rollout.State.SUCCEEDED
    assert "cleanup" in done.events.get(action="complete").output


def test_the_status_page_gets_maintenance_and_rollback_entries(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from ops.rollouts.services import rollout_rollback

    with django_capture_on_commit_callbacks(execute=True):
        rollout = rollout_create(version="1.0.0", actor="t")
        rollout_start(rollout_id=rollout.pk, actor="t")
    entry = StatusEntry.objects.get(kind="maintenance")
    assert entry.title == "Maintenance: rolling out Portal API 1.0.0"
    assert entry.resolved_at is None
    with django_capture_on_commit_callbacks(execute=True):
        rollout_rollback(rollout_id=rollout.pk, actor="controller", reason="p95 too slow")
    entry.refresh_from_db()
    assert entry.resolved_at is not None
    rollback = StatusEntry.objects.get(kind="rollback")
    # The public page gets a neutral sentence: an operator's reason stays internal.
    assert (
        rollback.body == "The new version was withdrawn; the previous version serves all traffic."
    )
    assert "p95 too slow" not in str(list(StatusEntry.objects.values()))


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()


def test_the_webhook_receives_json_from_the_outbox(
    settings: Any, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    settings.ROLLOUT_NOTIFIERS = ["webhook"]
    settings.ROLLOUT_WEBHOOK_URL = url
    rollout = rollout_create(version="1.0.0", actor="t")
    rollout_start(rollout_id=rollout.pk, actor="t")
    assert received == []  # the action does not wait for the webhook: the outbox has it
    (queued,) = Notification.objects.all()
    assert (queued.event, queued.delivered_at) == ("started", None)
    assert deliver_notifications() == 1
    assert [(r["event"], r["version"], r["weight"]) for r in received] == [("started", "1.0.0", 5)]
    queued.refresh_from_db()
    assert queued.delivered_at is not None
    assert deliver_notifications() == 0  # delivered once


def test_a_webhook_that_never_answers_delays_nothing_and_is_retried(settings: Any) -> None:
    import socket
    import time

    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    settings.ROLLOUT_NOTIFIERS = ["webhook", "status"]
    settings.ROLLOUT_WEBHOOK_URL = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    try:
        rollout = rollout_create(version="1.0.0", actor="t")
        rollout_start(rollout_id=rollout.pk, actor="t")
        began = time.monotonic()
        rollout_abort(rollout_id=rollout.pk, actor="t", reason="stop")
        assert time.monotonic() - began < 2  # not the webhook's 5 s timeout, let alone 3 tries
        assert deliver_notifications(budget_seconds=1) == 0
    finally:
        silent.close()
    first = Notification.objects.order_by("id").first()
    assert first is not None
    assert (first.attempts, first.delivered_at) == (1, None)
    assert first.next_attempt_at > first.created_at  # backs off before the next try
    assert "timed out" in first.last_error


def test_a_public_note_is_what_the_status_page_says_and_the_reason_stays_inside(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from ops.rollouts.services import rollout_rollback

    rollout = rollout_create(version="1.0.0", actor="t")
    rollout_start(rollout_id=rollout.pk, actor="t")
    rollout_rollback(
        rollout_id=rollout.pk,
        actor="olga",
        reason="p99 of files doubled; kubectl logs show OOM kills",
        public_note="We reverted an update that slowed file downloads.",
    )
    rollback = StatusEntry.objects.get(kind="rollback")
    assert rollback.body == "We reverted an update that slowed file downloads."
    assert "OOM" not in str(list(StatusEntry.objects.values()))
    assert "OOM" in rollout.events.get(action="rollback").reason
