"""The staff console, mounted at /ops/: where the rooms' pages are put together."""

from __future__ import annotations

from django.urls import path

from ops.rollouts import views as rollouts
from ops.rollouts.selectors import current_versions, known_versions
from ops.slo.views import SLODashboardView

app_name = "ops"

urlpatterns = [
    path("", rollouts.RolloutListView.as_view(), name="rollouts"),
    path("rollouts/new", rollouts.RolloutStartView.as_view(), name="rollout-start"),
    path("rollouts/<int:pk>", rollouts.RolloutDetailView.as_view(), name="rollout"),
    path(
        "rollouts/<int:pk>/report.md",
        rollouts.RolloutReportView.as_view(),
        {"fmt": "md"},
        name="rollout-report",
    ),
    path(
        "rollouts/<int:pk>/report.json",
        rollouts.RolloutReportView.as_view(),
        {"fmt": "json"},
        name="rollout-report-json",
    ),
    path(
        "rollouts/<int:pk>/<slug:action>",
        rollouts.RolloutActionView.as_view(),
        name="rollout-action",
    ),
    # The SLO room charts stable beside canary; the rollouts room says which versions those are.
    path(
        "slo",
        SLODashboardView.as_view(versions_for=current_versions, known_versions=known_versions),
        name="slo",
    ),
]
