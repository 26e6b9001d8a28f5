from __future__ import annotations

from django.contrib import admin

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "title",
        "status",
        "tenant",
        "contact",
        "scheduled_for",
        "created_at",
    ]
    list_filter = ["status", "tenant"]
    search_fields = ["id", "title", "contact__name"]
    list_select_related = ["tenant", "contact"]
    raw_id_fields = ["contact"]
    readonly_fields = ["id", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False
