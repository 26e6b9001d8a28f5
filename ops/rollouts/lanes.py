"""The two traffic lanes and which one is stable now (`TrafficLanes`), as the drivers, the
gates' probes and the plans' commands see them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

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


def is_swapped() -> bool:
    return TrafficLanes.objects.filter(pk=1, swapped=True).exists()


def roles(swapped: bool) -> Lanes:
    """The lanes' roles when lane B is stable (`swapped`) or lane A is."""
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


def current() -> Lanes:
    return roles(is_swapped())


def record_swapped(swapped: bool) -> None:
    """Records which lane is stable, in the caller's transaction: a promotion writes it in the
    same commit as the rollout's outcome, so no reader ever sees one without the other. Setting
    a value (not toggling) makes a resumed promotion idempotent."""
    TrafficLanes.objects.update_or_create(pk=1, defaults={"swapped": swapped})
