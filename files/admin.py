from __future__ import annotations

from django.contrib import admin

from files.models import JobFile


@admin.register(JobFile)
class JobFileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "name", "kind", "size", "tenant", "job", "created_at"]
    list_filter = ["kind", "tenant"]
    search_fields = ["id", "name", "job__id", "sha256"]
    list_select_related = ["tenant", "job"]
    raw_id_fields = ["job"]
    readonly_fields = ["id", "size", "sha256", "content_type", "kind", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        # Uploads go through the API, which validates size, type and content.
        return False
