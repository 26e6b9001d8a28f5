"""Query filters of /v1/jobs."""

from __future__ import annotations

import django_filters

from jobs.models import Job, JobStatus


class JobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    contact_id = django_filters.UUIDFilter(field_name="contact_id")

    class Meta:
        model = Job
        fields = ["status", "contact_id"]
