from __future__ import annotations

from django.contrib import admin

from files import quotas
from files.models import JobFile, StorageUsage
from portal.formats import size_text


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


@admin.register(StorageUsage)
class StorageUsageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What each tenant stores against its quota; the JobFile signals keep it, so it is read
    only here. Quotas are set on the tenant or its plan."""

    list_display = ["tenant", "files", "stored", "quota", "used"]
    search_fields = ["tenant__slug", "tenant__name"]
    list_select_related = ["tenant__plan"]
    ordering = ["-bytes"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False

    @admin.display(description="Bytes", ordering="bytes")
    def stored(self, usage: StorageUsage) -> str:
        return size_text(usage.bytes)

    @admin.display(description="Quota")
    def quota(self, usage: StorageUsage) -> str:
        max_bytes, max_files = quotas.quota_for(usage.tenant)
        return (
            f"{'no limit' if max_bytes is None else size_text(max_bytes)}, "
            f"{'no limit' if max_files is None else f'{max_files:,} files'}"
        )

    @admin.display(description="Used")
    def used(self, usage: StorageUsage) -> str:
        limits = quotas.quota_for(usage.tenant)
        return f"{quotas.Usage(usage.bytes, usage.files, *limits).fraction():.0%}"
