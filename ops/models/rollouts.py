"""Rollouts room: releases, plans with their phases and gates, rollouts, their events and
gate results."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Value


class Release(models.Model):
    class Stability(models.TextChoices):
        UNKNOWN = "", "Not rolled out"
        WATCHING = "watching", "Under the stability watch"
        STABLE = "stable", "Stable (watch passed)"
        BREACHED = "breached", "SLO breached during the watch"
        SUPERSEDED = "superseded", "Superseded by a later release before its watch ended"

    version = models.CharField(max_length=64, unique=True)
    image = models.CharField(max_length=300, blank=True, help_text="e.g. portal-api:v1.0.0")
    notes = models.TextField(blank=True)
    stability = models.CharField(max_length=16, choices=Stability.choices, blank=True)
    migrations = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The release's migration state, recorded by its own code (`rollout "
        "record-release`): the migrations it applies on top of the database, their SQL and "
        "the migration gate's findings.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.version


class PlanInUseError(ValidationError):
    """A plan that a rollout in flight runs on is not edited under it."""

    def __init__(self, plan: RolloutPlan) -> None:
        super().__init__(
            f"Plan {plan.name} is in use by a rollout in flight: edit it once that rollout has "
            "finished, or copy it to a new plan."
        )


def _refuse_if_in_use(plan_id: int | None) -> None:
    if plan_id is None:
        return
    plan = RolloutPlan.objects.filter(id=plan_id).first()
    if plan is not None and plan.in_use():
        raise PlanInUseError(plan)


def _plan_of(phase_id: int | None) -> int | None:
    if phase_id is None:
        return None
    plan_id: int | None = (
        RolloutPhase.objects.filter(pk=phase_id).values_list("plan_id", flat=True).first()
    )
    return plan_id


class RolloutPlan(models.Model):
    class Promotion(models.TextChoices):
        SWAP_LANES = "swap_lanes", "Swap lanes: the canary's lane becomes stable"
        RETURN_TO_STABLE = (
            "return_to_stable",
            ("Return traffic to the stable lane, which the last phase redeployed"),
        )

    name = models.SlugField(max_length=50, unique=True)
    description = models.CharField(max_length=300, blank=True)
    is_default = models.BooleanField(default=False)
    max_gate_failures = models.PositiveIntegerField(
        default=1, help_text="Failed gate evaluations that abort the rollout and roll it back."
    )
    migrate_commands = models.JSONField(
        default=list,
        # In the database too, so the release before this one can still insert plans.
        db_default=Value([], models.JSONField()),
        blank=True,
        help_text="Apply the release's migrations (e.g. its migrate Job), run by `start` once "
        "the migration gate passes and before any traffic moves.",
    )
    rollback_commands = models.JSONField(
        default=list, blank=True, help_text="Run after traffic is back on stable."
    )
    cleanup_commands = models.JSONField(
        default=list, blank=True, help_text="Run after success (e.g. scale the canary to 0)."
    )
    command_timeout = models.PositiveIntegerField(default=300)
    max_bake_extension_seconds = models.PositiveIntegerField(
        default=900,
        help_text="When a phase's gates lack samples: how long past the bake the controller "
        "keeps gathering evidence (topping up with its probe tenants' requests) before it asks "
        "a person. 0: ask at once.",
    )
    promotion = models.CharField(
        max_length=20,
        choices=Promotion.choices,
        default=Promotion.SWAP_LANES,
        help_text="After the last phase: how the new version becomes the stable one, so 100 % "
        "of traffic ends on a lane that runs it (then cleanup runs).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_if_in_use(self.pk)
        super().save(*args, **kwargs)

    def in_use(self) -> bool:
        """Whether a rollout in flight runs on this plan (its phases and gates are then fixed)."""
        return self.rollouts.filter(state__in=Rollout.LIVE_STATES).exists()


class RolloutPhase(models.Model):
    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveIntegerField()
    weight = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Percent of traffic on the canary during this phase.",
    )
    bake_seconds = models.PositiveIntegerField(
        default=300, help_text="Minimum time at this weight before the gates are judged."
    )
    commands = models.JSONField(
        default=list,
        blank=True,
        help_text="Run on entering the phase, before traffic moves; {version}, {image} and "
        "{weight} are filled in. A failure aborts the rollout.",
    )

    class Meta:
        ordering = ["plan", "order"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "order"], name="rolloutphase_unique_order")
        ]

    def __str__(self) -> str:
        return f"{self.plan} phase {self.order} ({self.weight}%)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_if_in_use(self.plan_id)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_if_in_use(self.plan_id)
        return super().delete(*args, **kwargs)


class RolloutQuerySet(models.QuerySet["Rollout"]):
    def live(self) -> RolloutQuerySet:
        """Rollouts in flight: holding their lane, not finished."""
        return self.filter(state__in=Rollout.LIVE_STATES)


class Rollout(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        SUCCEEDED = "succeeded", "Succeeded"
        ABORTED = "aborted", "Aborted"
        ROLLED_BACK = "rolled_back", "Rolled back"
        # Traffic must go back to stable but the driver refused: retried, alerted, forceable.
        ROLLBACK_PENDING = "rollback_pending", "Rollback pending (driver refused)"

    # In flight (holding the lane); every other state is final.
    LIVE_STATES: ClassVar[frozenset[str]] = frozenset(
        {State.PENDING, State.RUNNING, State.PAUSED, State.ROLLBACK_PENDING}
    )
    FINAL_STATES: ClassVar[frozenset[str]] = frozenset(
        {State.SUCCEEDED, State.ABORTED, State.ROLLED_BACK}
    )

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="rollouts")
    baseline_version = models.CharField(max_length=64, blank=True)
    plan = models.ForeignKey(RolloutPlan, on_delete=models.PROTECT, related_name="rollouts")
    driver = models.CharField(max_length=20, default="record")
    lane = models.CharField(
        max_length=30, default="canary", help_text="One rollout at a time holds a lane."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    phase_index = models.PositiveIntegerField(
        default=0, help_text="0 before the first phase; n while in phase n."
    )
    weight = models.PositiveIntegerField(default=0)
    phase_started_at = models.DateTimeField(null=True, blank=True)
    gate_failures = models.PositiveIntegerField(default=0)
    intent = models.JSONField(
        null=True,
        blank=True,
        help_text="The action being carried out (commands, driver) until its outcome is "
        "recorded; a controller resumes one whose process died.",
    )
    rollback_target = models.CharField(
        max_length=16,
        blank=True,
        help_text="While rollback is pending: the final state it will reach (aborted or "
        "rolled_back).",
    )
    plan_digest = models.CharField(
        max_length=64,
        blank=True,
        help_text="The plan's phases and gates as they were at the start; the controller pauses "
        "and alerts if they change under the rollout.",
    )
    probe_errors = models.PositiveIntegerField(
        default=0, help_text="Consecutive ticks whose guard could not reach the canary."
    )
    started_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    watch_until = models.DateTimeField(
        null=True, blank=True, help_text="End of the stability watch after success."
    )
    watch_checked_at = models.DateTimeField(null=True, blank=True)

    objects = RolloutQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("operate_rollout", "Can start, advance, pause, resume, abort and roll back rollouts")
        ]
        constraints = [
            # At most one rollout in flight per lane (the canary slot): LIVE_STATES, spelled
            # out because a migration holds this condition as written.
            models.UniqueConstraint(
                fields=["lane"],
                condition=models.Q(state__in=["pending", "running", "paused", "rollback_pending"]),
                name="rollout_one_active_per_lane",
            )
        ]

    def __str__(self) -> str:
        return f"rollout {self.pk} of {self.release} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in self.FINAL_STATES


class RolloutEvent(models.Model):
    """Every transition and action: who, when, what, why, and the state before and after."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    output = models.TextField(blank=True, help_text="Captured command or driver output.")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.action} by {self.actor}"


class Gate(models.Model):
    """A check a phase must pass before the rollout advances. `params` hold its thresholds and
    window (see ops/rollouts/gates.py for each kind's parameters and defaults)."""

    phase = models.ForeignKey(RolloutPhase, on_delete=models.CASCADE, related_name="gates")
    order = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["phase", "order", "id"]

    def __str__(self) -> str:
        return self.description or self.kind

    def save(self, *args: Any, **kwargs: Any) -> None:
        _refuse_if_in_use(_plan_of(self.phase_id))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_if_in_use(_plan_of(self.phase_id))
        return super().delete(*args, **kwargs)


class GateResult(models.Model):
    class Verdict(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        INCONCLUSIVE = "inconclusive", "Inconclusive"
        ERROR = "error", "Probe error"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="gate_results")
    gate = models.ForeignKey(Gate, on_delete=models.SET_NULL, null=True, related_name="results")
    kind = models.CharField(max_length=40)
    phase_index = models.PositiveIntegerField()
    attempt = models.PositiveIntegerField(default=1)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    observed = models.CharField(max_length=200, blank=True)
    target = models.CharField(max_length=200, blank=True)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)
    query = models.TextField(blank=True, help_text="The query or probe that was used.")
    evidence = models.TextField(blank=True)
    needs_samples = models.BooleanField(
        default=False, help_text="Inconclusive for want of samples: more evidence may decide."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.verdict} (phase {self.phase_index}, attempt {self.attempt})"


class Notification(models.Model):
    """The outbox: a notification for an outside channel, written in the same transaction as
    the transition that caused it and delivered afterwards by the controller, with retries.
    Nothing acknowledged is lost if a process dies after the commit, and no transition waits
    for a slow webhook."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=30)
    channel = models.CharField(max_length=20)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Gave up after retries.")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["delivered_at", "failed_at", "next_attempt_at"], name="outbox_due")
        ]

    def __str__(self) -> str:
        return f"{self.event} via {self.channel} for rollout {self.rollout_id}"


class TrafficLanes(models.Model):
    """Which of the two lanes serves as stable now. Lane A is what the STABLE_URL,
    ROLLOUT_STABLE_UPSTREAM and ALB_STABLE_TARGET_GROUP_ARN settings name, lane B what the
    CANARY_* settings name. Promotion by swapping makes the lane that ran the canary the stable
    one, so the next rollout's canary is the lane that ran the old version."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    swapped = models.BooleanField(default=False, help_text="Lane B is stable, lane A the canary.")
    updated_at = models.DateTimeField(auto_now=True)
    # The traffic lease: one driver call at a time across every process, without a database
    # lock held while the driver works (a slow reload must not time out another's statement).
    lease_holder = models.CharField(
        max_length=40, blank=True, help_text="The intent whose driver call is moving traffic."
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "traffic lanes"

    def __str__(self) -> str:
        return "lane B stable" if self.swapped else "lane A stable"


class ControllerHeartbeat(models.Model):
    """When the controller last ticked, and what the canary lane said it runs: the console
    tells operators when nothing is judging their rollout, or when CANARY_URL reaches the
    stable server."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    last_action = models.CharField(max_length=30, blank=True)
    canary_version = models.CharField(max_length=64, blank=True)
    canary_checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"controller last ticked at {self.last_tick_at}"
