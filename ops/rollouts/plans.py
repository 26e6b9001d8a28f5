"""What a rollout runs on: its plan's fingerprint, and the checks made before it starts (the
plan's lint errors, a release that is not newer than the one it replaces)."""

from __future__ import annotations

import hashlib
import json
import re

from ops.models import Rollout, RolloutPlan

NUMERIC = re.compile(r"^v?(\d+(?:\.\d+)*)")


def plan_digest(plan: RolloutPlan) -> str:
    """A fingerprint of everything that decides how a rollout on `plan` behaves: its phases,
    their gates and commands, the failure limit, rollback, cleanup and promotion."""
    shape = {
        "max_gate_failures": plan.max_gate_failures,
        "rollback_commands": plan.rollback_commands,
        "cleanup_commands": plan.cleanup_commands,
        "command_timeout": plan.command_timeout,
        "max_bake_extension_seconds": plan.max_bake_extension_seconds,
        "promotion": plan.promotion,
        "phases": [
            {
                "order": phase.order,
                "weight": phase.weight,
                "bake": phase.bake_seconds,
                "commands": phase.commands,
                "gates": [
                    [gate.order, gate.kind, gate.params]
                    for gate in phase.gates.order_by("order", "id")
                ],
            }
            for phase in plan.phases.order_by("order")
        ],
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def plan_changed(rollout: Rollout) -> str:
    """Why the rollout's plan is no longer the one it started on (its phases, gates or
    commands were changed under it, past the model's refusal), or "" when it is."""
    if not rollout.plan_digest or plan_digest(rollout.plan) == rollout.plan_digest:
        return ""
    return (
        f"Plan {rollout.plan} changed while rollout {rollout.pk} ran on it (phases, gates or "
        "commands): paused for a person. Restore the plan and resume, or abort."
    )


def _release_key(version: str) -> tuple[int, ...] | None:
    match = NUMERIC.match(version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def version_problem(version: str, baseline: str) -> str:
    """Why rolling `version` out over `baseline` needs a person's reason: the same version
    (nothing to compare, nothing to gain) or a downgrade. Empty when it is an upgrade, or when
    either version has no number to compare."""
    if not baseline:
        return ""
    if version == baseline:
        return f"{version} is the version stable already runs"
    new, old = _release_key(version), _release_key(baseline)
    if new is not None and old is not None and new < old:
        return f"{version} is older than {baseline}, the version stable runs: a downgrade"
    return ""
