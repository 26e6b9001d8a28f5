"""The staff console, mounted at /ops/."""

from __future__ import annotations

from django.urls import path

from ops import views

app_name = "ops"

urlpatterns = [
    path("", views.RolloutListView.as_view(), name="rollouts"),
    path("rollouts/new", views.RolloutStartView.as_view(), name="rollout-start"),
    path("rollouts/<int:pk>", views.RolloutDetailView.as_view(), name="rollout"),
    path(
        "rollouts/<int:pk>/report.md",
        views.RolloutReportView.as_view(),
        {"fmt": "md"},
        name="rollout-report",
    ),
    path(
        "rollouts/<int:pk>/report.json",
        views.RolloutReportView.as_view(),
        {"fmt": "json"},
        name="rollout-report-json",
    ),
    path(
        "rollouts/<int:pk>/<slug:action>", views.RolloutActionView.as_view(), name="rollout-action"
    ),
    path("slo", views.SLODashboardView.as_view(), name="slo"),
]
