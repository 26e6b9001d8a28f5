from __future__ import annotations

from django.urls import path

from files.apis import JobFileDetailView, JobFileDownloadView, JobFileListView, UsageView

urlpatterns = [
    path("usage", UsageView.as_view(), name="usage"),
    path("jobs/<str:job_id>/files", JobFileListView.as_view(), name="file-list"),
    path(
        "jobs/<str:job_id>/files/<str:file_id>",
        JobFileDetailView.as_view(),
        name="file-detail",
    ),
    path(
        "jobs/<str:job_id>/files/<str:file_id>/download",
        JobFileDownloadView.as_view(),
        name="file-download",
    ),
]
