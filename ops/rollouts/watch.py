"""The stability watch: after success, the new version's SLOs keep being judged (on `rollout
tick`) until the watch ends; a breach notifies and marks the release, the end records a review.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ops.models import Release, Rollout, SLObjective
from ops.rollouts import events
from ops.rollouts.notify import notify
from ops.slo.objectives import VIOLATED, SLOResult, evaluate
from ops.slo.sources import default_source
from portal.formats import rfc3339


def _summary(results: list[SLOResult]) -> str:
    return "; ".join(
        f"{r.objective.name}: {r.verdict}"
        + (f" (SLI {r.sli:.3%}, target {r.objective.target:.3%})" if r.sli is not None else "")
        for r in results
    )


def watch_step(*, actor: str = "controller", force: bool = False) -> str | None:
    """Judges the newest watched rollout if its interval has passed; returns what happened."""
    now = timezone.now()
    watched = Rollout.objects.filter(
        state=Rollout.State.SUCCEEDED,
        watch_until__isnull=False,
        release__stability=Release.Stability.WATCHING,
    )
    rollout = watched.select_related("release").order_by("-finished_at").first()
    if rollout is None or rollout.watch_until is None:
        return None
    interval = timedelta(seconds=settings.ROLLOUT_WATCH_INTERVAL_SECONDS)
    ending = now >= rollout.watch_until
    if (
        not (force or ending)
        and rollout.watch_checked_at
        and now - rollout.watch_checked_at < interval
    ):
        return None
    source = default_source()
    version = rollout.release.version
    objectives = list(SLObjective.objects.filter(is_active=True))
    # During the watch each objective's own window; at the end, the whole watch period.
    period = rollout.watch_until - (rollout.finished_at or rollout.watch_until)
    results = [
        evaluate(o, source, version=version, window=period if ending else None) for o in objectives
    ]
    breached = [r for r in results if r.verdict == VIOLATED]
    with transaction.atomic():
        locked = Rollout.objects.select_for_update().get(pk=rollout.pk)
        locked.watch_checked_at = now
        locked.save(update_fields=["watch_checked_at"])
        if breached:
            Release.objects.filter(pk=rollout.release_id).update(
                stability=Release.Stability.BREACHED
            )
            action, outcome = "watch_breach", "breached"
        elif ending:
            Release.objects.filter(pk=rollout.release_id).update(stability=Release.Stability.STABLE)
            action, outcome = "watch_review", "passed"
        else:
            action, outcome = "watch_check", "ok"
        events.record(
            rollout=locked,
            actor=actor,
            action=action,
            reason=_summary(results),
            after={"stability": outcome, "watch_until": rfc3339(rollout.watch_until)},
        )
        if breached:
            notify("watch_breach", locked, _summary(breached))
        elif ending:
            notify("watch_passed", locked, _summary(results))
    return f"{action}: {version} {outcome}"
