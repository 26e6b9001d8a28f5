from __future__ import annotations

from django.contrib import admin

from contacts.models import Contact


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "email", "company", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "email", "company", "id"]
    list_select_related = ["tenant"]
    readonly_fields = ["id", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False
