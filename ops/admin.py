from __future__ import annotations

from typing import Any

from django.contrib import admin

from ops.models import (
    Gate,
    GateResult,
    MetricRollup,
    Release,
    Rollout,
    RolloutEvent,
    RolloutPhase,
    RolloutPlan,
    SLObjective,
    StatusEntry,
)


@admin.register(SLObjective)
class SLObjectiveAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "endpoint",
        "kind",
        "threshold_ms",
        "target",
        "window_seconds",
        "period_days",
        "min_samples",
        "is_active",
    ]
    list_filter = ["kind", "is_active"]
    list_editable = ["target", "is_active"]
    search_fields = ["name", "endpoint"]


@admin.register(MetricRollup)
class MetricRollupAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["minute", "version", "method", "endpoint", "status_class", "count", "process"]
    list_filter = ["version", "status_class", "method"]
    search_fields = ["endpoint"]
    date_hierarchy = "minute"
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


class GateInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Gate
    extra = 0
    fields = ["order", "kind", "params", "description"]


@admin.register(RolloutPhase)
class RolloutPhaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["plan", "order", "weight", "bake_seconds"]
    list_filter = ["plan"]
    inlines = [GateInline]


class RolloutPhaseInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RolloutPhase
    extra = 0
    fields = ["order", "weight", "bake_seconds", "commands"]
    show_change_link = True


@admin.register(RolloutPlan)
class RolloutPlanAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "is_default", "max_gate_failures", "description"]
    inlines = [RolloutPhaseInline]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["version", "image", "created_at"]
    search_fields = ["version", "image"]


class RolloutEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RolloutEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ("at", "actor", "action", "reason", "before", "after")

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class GateResultInline(admin.TabularInline):  # type: ignore[type-arg]
    model = GateResult
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "phase_index",
        "attempt",
        "kind",
        "verdict",
        "observed",
        "target",
        "created_at",
    )

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only here: rollouts move only through their transitions (commands, staff pages)."""

    list_display = [
        "id",
        "release",
        "state",
        "phase_index",
        "weight",
        "plan",
        "driver",
        "started_by",
        "created_at",
    ]
    list_filter = ["state", "driver", "plan"]
    inlines = [GateResultInline, RolloutEventInline]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(StatusEntry)
class StatusEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["reference", "kind", "title", "started_at", "resolved_at"]
    list_filter = ["kind"]
