"""The SLO dashboard page of the staff console."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from files.quotas import storage_summary
from ops.console import ConsolePage
from ops.slo.dashboard import DEFAULT_WINDOW, WINDOWS, Versions, build, stable_only
from ops.slo.forms import DashboardForm
from ops.slo.sources import PrometheusError


class SLODashboardView(ConsolePage):
    """Stable and canary side by side. Which versions those are is the rollouts room's to say:
    `ops.urls` passes its resolvers in, so this room imports nothing of rollouts."""

    nav = "slo"
    versions_for: Callable[[str, str], Versions] = staticmethod(stable_only)
    known_versions: Callable[[], list[str]] = staticmethod(list)

    def get(self, request: HttpRequest) -> HttpResponse:
        form = DashboardForm(request.GET)
        if not form.is_valid():
            # The options stay on the page, at their defaults, beside what was wrong.
            invalid: dict[str, Any] = {
                "form": form,
                "windows": list(WINDOWS),
                "window_key": DEFAULT_WINDOW,
                "versions": {
                    name: "" if name in form.errors else form.data.get(name, "")
                    for name in ("stable", "canary")
                },
                "known_versions": self.known_versions(),
            }
            return self.page(request, "ops/slo_dashboard.html", invalid, status=400)
        data = form.cleaned_data
        versions = self.versions_for(data["stable"], data["canary"])
        context: dict[str, Any] = {
            "form": form,
            "windows": list(WINDOWS),
            "window_key": data["window"] or DEFAULT_WINDOW,
            "versions": versions,
            "known_versions": self.known_versions(),
        }
        context["storage"] = storage_summary()
        try:
            context["dashboard"] = build(window_key=context["window_key"], versions=versions)
        except PrometheusError as exc:
            context["error"] = str(exc)
            return self.page(request, "ops/slo_dashboard.html", context, status=503)
        return self.page(request, "ops/slo_dashboard.html", context)
