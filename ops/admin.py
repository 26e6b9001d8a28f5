from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from ops.models import (
    Gate,
    GateResult,
    MetricRollup,
    PlanInUseError,
    Release,
    Rollout,
    RolloutEvent,
    RolloutPhase,
    RolloutPlan,
    SLObjective,
    StatusEntry,
)
from ops.rollouts.gates import CATALOGUE
from ops.rollouts.lint import command_problems, gate_problems


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


def _kind_choices() -> list[tuple[str, str]]:
    return [(kind, f"{kind} — {spec.summary}") for kind, spec in sorted(CATALOGUE.items())]


class GateForm(forms.ModelForm):  # type: ignore[type-arg]
    """A gate's kind is one of the catalogue's, and its params are checked as `rollout lint`
    checks them: unknown names, wrong types and out-of-range values are refused here."""

    kind = forms.ChoiceField(
        choices=_kind_choices, widget=forms.Select(attrs={"class": "gate-kind"})
    )

    class Meta:
        model = Gate
        fields = ["order", "kind", "params", "description"]
        # Sized for the tabular inline, which must fit a 1280 px screen (ops/admin.css).
        widgets = {
            "params": forms.Textarea(attrs={"class": "gate-params", "rows": 4, "cols": 40}),
            "description": forms.TextInput(attrs={"class": "gate-description", "size": 24}),
        }
        help_texts = {
            "params": "A JSON object; leave {} for the kind's defaults. Each kind's parameters "
            "and defaults are listed in ops/rollouts/gates.py and checked on save."
        }

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        kind, params = cleaned.get("kind"), cleaned.get("params")
        if kind and params is not None:
            problems = gate_problems(kind, params)
            if problems:
                self.add_error("params", "; ".join(problems))
        return cleaned


class PhaseForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = RolloutPhase
        # `plan` too: the phase's own admin page adds phases (inlines leave their parent out).
        fields = ["plan", "order", "weight", "bake_seconds", "commands"]

    def clean_commands(self) -> Any:
        commands = self.cleaned_data.get("commands")
        problems = [str(f.message) for f in command_problems(commands, "commands")]
        if problems:
            raise forms.ValidationError("; ".join(problems))
        return commands

    def clean_plan(self) -> Any:
        plan = self.cleaned_data.get("plan")
        if isinstance(plan, RolloutPlan) and plan.in_use():
            raise PlanInUseError(plan)
        return plan


class FrozenWhileInUse:
    """A plan (with its phases and gates) that a rollout in flight runs on is shown read-only:
    the model refuses such edits anyway, and the page says so instead of failing."""

    @staticmethod
    def _plan(obj: Any) -> RolloutPlan | None:
        if isinstance(obj, RolloutPlan):
            return obj
        if isinstance(obj, RolloutPhase):
            return obj.plan
        return None

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        plan = self._plan(obj)
        if plan is not None and plan.in_use():
            return False
        return bool(super().has_change_permission(request, obj))  # type: ignore[misc]

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        plan = self._plan(obj)
        if plan is not None and plan.in_use():
            return False
        return bool(super().has_delete_permission(request, obj))  # type: ignore[misc]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        plan = self._plan(obj)
        if plan is not None and plan.in_use():
            return False
        if isinstance(self, admin.options.InlineModelAdmin):
            return bool(super().has_add_permission(request, obj))  # type: ignore[misc]
        return bool(super().has_add_permission(request))  # type: ignore[misc]


class GateInline(FrozenWhileInUse, admin.TabularInline):  # type: ignore[type-arg]
    model = Gate
    form = GateForm
    extra = 0
    fields = ["order", "kind", "params", "description"]

    class Media:
        css = {"all": ["ops/admin.css"]}


@admin.register(RolloutPhase)
class RolloutPhaseAdmin(FrozenWhileInUse, admin.ModelAdmin):  # type: ignore[type-arg]
    form = PhaseForm
    list_display = ["plan", "order", "weight", "bake_seconds"]
    list_filter = ["plan"]
    inlines = [GateInline]


class RolloutPhaseInline(FrozenWhileInUse, admin.TabularInline):  # type: ignore[type-arg]
    model = RolloutPhase
    form = PhaseForm
    extra = 0
    fields = ["order", "weight", "bake_seconds", "commands"]
    show_change_link = True


@admin.register(RolloutPlan)
class RolloutPlanAdmin(FrozenWhileInUse, admin.ModelAdmin):  # type: ignore[type-arg]
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
