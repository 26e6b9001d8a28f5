from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from portal.formats import size_text
from portal.models import ApiToken, Plan, Tenant, hash_token

admin.site.site_header = "Portal API administration"
# The admin's "View site" link: the landing page.
admin.site.site_url = "/"
admin.site.site_title = "Portal API"


class ApiTokenInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ApiToken
    fields = readonly_fields = (
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "slug",
        "name",
        "is_active",
        "rate_limit_default",
        "rate_limit_files",
        "plan",
        "created_at",
    ]
    list_filter = ["is_active", "plan"]
    list_select_related = ["plan"]
    search_fields = ["slug", "name"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "is_active"]}),
        ("Rate limits", {"fields": ["rate_limit_default", "rate_limit_files"]}),
        (
            "Storage quota",
            {
                "fields": ["plan", "storage_max_bytes", "storage_max_files"],
                "description": "What the tenant may keep in job files: its own limits where "
                "set, else its plan's. What it stores now is listed under Storage usage (Files).",
            },
        ),
    ]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ApiTokenInline]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "slug", "max_bytes", "storage_max_files"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Storage max bytes", ordering="storage_max_bytes")
    def max_bytes(self, plan: Plan) -> str:
        return "—" if plan.storage_max_bytes is None else size_text(plan.storage_max_bytes)


class ApiTokenAddForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = ApiToken
        fields = ["tenant", "name", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "prefix",
        "tenant",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = ["tenant", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["tenant", "name", "expires_at"]
        return [
            "tenant",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return ["tenant", "name", "prefix", "created_at", "last_used_at"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            raw, obj.prefix = ApiToken.generate()
            obj.key_hash = hash_token(raw)
            # Shown once by response_add below; only the hash is kept.
            obj.raw_once = raw  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None
    ) -> Any:
        """Shows the new token once, in the page itself: never in a message cookie, which is
        signed but not encrypted, and never in a URL."""
        raw = getattr(obj, "raw_once", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(
            request,
            "admin/portal/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "token": obj,
                "raw_token": raw,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
