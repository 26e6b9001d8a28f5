"""The rollout's execution log: every event (who, when, what, why, the state before and after,
captured output) is written here, and nowhere else."""

from __future__ import annotations

from typing import Any

from ops.models import Rollout, RolloutEvent


def snapshot(rollout: Rollout) -> dict[str, Any]:
    """Where a rollout is: its state, phase and canary weight."""
    return {"state": rollout.state, "phase": rollout.phase_index, "weight": rollout.weight}


def record(
    *,
    rollout: Rollout,
    actor: str,
    action: str,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    output: str = "",
) -> RolloutEvent:
    """One event of the execution log, in the caller's transaction."""
    return RolloutEvent.objects.create(
        rollout=rollout,
        actor=actor,
        action=action,
        reason=reason,
        before=before or {},
        after=after or {},
        output=output,
    )
