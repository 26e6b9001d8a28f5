"""The two traffic lanes and which one is stable now (`TrafficLanes`), as the drivers, the
gates' probes and the plans' commands see them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from ops.models import TrafficLanes


@dataclass(frozen=True)
class Lanes:
    stable_url: str
    canary_url: str
    stable_upstream: str
    canary_upstream: str
    stable_target_group: str
    canary_target_group: str
    swapped: bool


def current() -> Lanes:
    swapped = TrafficLanes.objects.filter(pk=1, swapped=True).exists()
    a = (
        settings.ROLLOUT_STABLE_URL,
        settings.ROLLOUT_STABLE_UPSTREAM,
        settings.ALB_STABLE_TARGET_GROUP_ARN,
    )
    b = (
        settings.ROLLOUT_CANARY_URL,
        settings.ROLLOUT_CANARY_UPSTREAM,
        settings.ALB_CANARY_TARGET_GROUP_ARN,
    )
    stable, canary = (b, a) if swapped else (a, b)
    return Lanes(
        stable_url=stable[0],
        canary_url=canary[0],
        stable_upstream=stable[1],
        canary_upstream=canary[1],
        stable_target_group=stable[2],
        canary_target_group=canary[2],
        swapped=swapped,
    )


@transaction.atomic
def swap() -> Lanes:
    """Promotion: the canary's lane becomes the stable one."""
    lanes, _ = TrafficLanes.objects.select_for_update().get_or_create(pk=1)
    lanes.swapped = not lanes.swapped
    lanes.save(update_fields=["swapped", "updated_at"])
    return current()
