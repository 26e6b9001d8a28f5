"""Rollout notifications: the log (default), a generic webhook, and the product's own status
page entries. Sent only after the transition that caused them has committed."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ops.models import Rollout, StatusEntry

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
}
INTERNAL_EVENTS = frozenset({"waiting", "gate_failed"})
# What the public status page says: a neutral sentence per event, never an operator's reason
# or a command's output (those stay in the event log and the operators' channels).
PUBLIC_BODIES = {
    "rolled_back": "The new version was withdrawn; the previous version serves all traffic.",
    "watch_breach": "A recent release is degrading the service; we are looking into it.",
}


def _payload(event: str, rollout: Rollout, reason: str) -> dict[str, Any]:
    return {
        "event": event,
        "title": MESSAGES[event].format(version=rollout.release.version),
        "rollout": rollout.pk,
        "version": rollout.release.version,
        "state": rollout.state,
        "weight": rollout.weight,
        "reason": reason,
        "at": timezone.now().isoformat(),
    }


def _log(payload: dict[str, Any]) -> None:
    logger.info("%s", payload["title"], extra={"notification": payload})


def _webhook(payload: dict[str, Any]) -> None:
    url = settings.ROLLOUT_WEBHOOK_URL
    if not url:
        logger.warning("ROLLOUT_WEBHOOK_URL is not set; webhook notification skipped")
        return
    body = json.dumps(payload).encode()
    for attempt in range(1, 4):
        # The URL is validated as http(s) by settings.
        request = urllib.request.Request(  # noqa: S310
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                if response.status < 300:
                    return
        except OSError as exc:
            logger.warning("Webhook attempt %d failed: %s", attempt, exc)
        time.sleep(0.5 * attempt)
    logger.error("Webhook notification %s was not delivered", payload["event"])


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
        resolved_at=timezone.now(), body=payload["title"]
    )
    if event == "rolled_back":
        StatusEntry.objects.get_or_create(
            reference=f"rollback-{rollout.created_at:%Y%m%d}-{rollout.pk:03d}",
            defaults={
                "kind": StatusEntry.Kind.ROLLBACK,
                "title": payload["title"],
                "body": PUBLIC_BODIES["rolled_back"],
                "rollout": rollout,
                "resolved_at": timezone.now(),
            },
        )


def notify(event: str, rollout: Rollout, reason: str = "") -> None:
    """Queues the notification for after the current transaction commits."""

    def send() -> None:
        payload = _payload(event, rollout, reason)
        for channel in settings.ROLLOUT_NOTIFIERS:
            try:
                if channel == "log":
                    _log(payload)
                elif channel == "webhook":
                    _webhook(payload)
                elif channel == "status":
                    _status(payload, rollout)
            except Exception:
                logger.exception("Notifier %s failed for %s", channel, event)

    transaction.on_commit(send)
