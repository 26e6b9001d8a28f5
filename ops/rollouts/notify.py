"""Rollout notifications: the log (default), a generic webhook, and the product's own status
page entries.

- `status` entries are written in the transition's own transaction: they commit with it.
- `log` lines are written once the transition has committed.
- `webhook` notifications go through an outbox (`Notification` rows written in the same
  transaction) that the controller delivers on every tick, with retries and back-off: a slow
  or dead webhook never holds up an action, and a process that dies after the commit loses
  nothing.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ops.models import Notification, Rollout, StatusEntry
from portal.formats import rfc3339

logger = logging.getLogger("portal.rollouts")

MESSAGES = {
    "started": "Maintenance: rolling out Portal API {version}",
    "completed": "Maintenance complete: Portal API {version} is live",
    "rolled_back": "Rollback: Portal API {version} was rolled back",
    "aborted": "Maintenance ended: the rollout of Portal API {version} was stopped",
    "watch_breach": "Incident: Portal API {version} breached an SLO during its stability watch",
    "watch_passed": "Portal API {version} passed its stability watch",
    # For the operators' channels only (log, webhook): never on the public status page.
    "waiting": "Rollout of Portal API {version} is paused, waiting for a person",
    "gate_failed": "Rollout of Portal API {version}: a gate failed",
    "rollback_pending": "ALERT: rollback of Portal API {version} is pending: the traffic "
    "driver refused; retrying",
    "schema_broken": "ALERT: the stable version fails on the schema Portal API {version} "
    "migrated; its migrations stay applied",
}
INTERNAL_EVENTS = frozenset({"waiting", "gate_failed", "rollback_pending", "schema_broken"})
ALERTS = frozenset({"rollback_pending", "schema_broken"})
# What the public status page says: a neutral sentence per event, never an operator's reason
# or a command's output (those stay in the event log and the operators' channels).
PUBLIC_BODIES = {
    "rolled_back": "The new version was withdrawn; the previous version serves all traffic.",
    "watch_breach": "A recent release is degrading the service; we are looking into it.",
}


def _payload(event: str, rollout: Rollout, reason: str, public_note: str) -> dict[str, Any]:
    return {
        "public_note": public_note,
        "event": event,
        "title": MESSAGES[event].format(version=rollout.release.version),
        "rollout": rollout.pk,
        "version": rollout.release.version,
        "state": rollout.state,
        "weight": rollout.weight,
        "reason": reason,
        "at": rfc3339(timezone.now()),
    }


def _log(payload: dict[str, Any]) -> None:
    level = logging.ERROR if payload["event"] in ALERTS else logging.INFO
    logger.log(level, "%s", payload["title"], extra={"notification": payload})


def _status(payload: dict[str, Any], rollout: Rollout) -> None:
    event = payload["event"]
    if event in INTERNAL_EVENTS:
        return
    reference = f"maint-{rollout.created_at:%Y%m%d}-{rollout.pk:03d}"
    if event == "started":
        StatusEntry.objects.get_or_create(
            reference=reference,
            defaults={
                "kind": StatusEntry.Kind.MAINTENANCE,
                "title": payload["title"],
                "rollout": rollout,
            },
        )
        return
    if event == "watch_breach":
        StatusEntry.objects.get_or_create(
            reference=f"incident-{rollout.created_at:%Y%m%d}-{rollout.pk:03d}",
            defaults={
                "kind": StatusEntry.Kind.INCIDENT,
                "title": payload["title"],
                "body": PUBLIC_BODIES["watch_breach"],
                "rollout": rollout,
            },
        )
        return
    if event == "watch_passed":
        return
    StatusEntry.objects.filter(reference=reference, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), body=payload["public_note"] or payload["title"]
    )
    if event == "rolled_back":
        StatusEntry.objects.get_or_create(
            reference=f"rollback-{rollout.created_at:%Y%m%d}-{rollout.pk:03d}",
            defaults={
                "kind": StatusEntry.Kind.ROLLBACK,
                "title": payload["title"],
                "body": payload["public_note"] or PUBLIC_BODIES["rolled_back"],
                "rollout": rollout,
                "resolved_at": timezone.now(),
            },
        )


# Outbox delivery: a try every tick while due, waits doubling from 5 s to 5 min, then give up.
MAX_ATTEMPTS = 12
WEBHOOK_TIMEOUT_SECONDS = 5


def notify(event: str, rollout: Rollout, reason: str = "", *, public_note: str = "") -> None:
    """Records the notification with the current transaction: status entries at once, the log
    line after commit, webhook deliveries in the outbox. `reason` is internal (operators'
    channels); `public_note`, when a person wrote one, is what the status page says."""
    payload = _payload(event, rollout, reason, public_note)
    channels = settings.ROLLOUT_NOTIFIERS
    if "status" in channels:
        _status(payload, rollout)
    if "webhook" in channels:
        Notification.objects.create(
            rollout=rollout, event=event, channel="webhook", payload=payload
        )
    if "log" in channels:
        transaction.on_commit(lambda: _log(payload))


def _post(payload: dict[str, Any]) -> None:
    url = settings.ROLLOUT_WEBHOOK_URL
    if not url:
        raise OSError("ROLLOUT_WEBHOOK_URL is not set")
    # The URL is validated as http(s) by settings.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
        if response.status >= 300:
            raise OSError(f"the webhook answered {response.status}")


def deliver_notifications(*, budget_seconds: float = 10.0) -> int:
    """Delivers due outbox notifications, oldest first, for at most `budget_seconds`; returns
    how many were delivered. Called by every controller tick."""
    started = time.monotonic()
    delivered = 0
    while time.monotonic() - started < budget_seconds:
        with transaction.atomic():
            due = (
                Notification.objects.select_for_update(skip_locked=True)
                .filter(
                    delivered_at__isnull=True,
                    failed_at__isnull=True,
                    next_attempt_at__lte=timezone.now(),
                )
                .order_by("id")
                .first()
            )
            if due is None:
                return delivered
            try:
                _post(due.payload)
            except OSError as exc:
                due.attempts += 1
                due.last_error = str(exc)[:1000]
                wait = min(300, 5 * 2 ** (due.attempts - 1))
                due.next_attempt_at = timezone.now() + timedelta(seconds=wait)
                if due.attempts >= MAX_ATTEMPTS:
                    due.failed_at = timezone.now()
                    logger.error("Webhook notification %s was not delivered: %s", due, exc)
                else:
                    logger.warning("Webhook attempt %d for %s failed: %s", due.attempts, due, exc)
            else:
                due.attempts += 1
                due.delivered_at = timezone.now()
                delivered += 1
            due.save()
    return delivered
