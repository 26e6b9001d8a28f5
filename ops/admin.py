from __future__ import annotations

from django.contrib import admin

from ops.models import MetricRollup, SLObjective


@admin.register(SLObjective)
class SLObjectiveAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "endpoint", "kind", "threshold_ms", "target", "window_seconds",
                    "period_days", "min_samples", "is_active"]  # fmt: skip
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
