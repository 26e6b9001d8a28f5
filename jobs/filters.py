"""Query filters of /v1/jobs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import django_filters
from django import forms
from django.core.validators import RegexValidator

from jobs.models import Job, JobStatus
from portal.http.filters import StrictFilterSet

CANONICAL_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class CanonicalUUIDField(forms.UUIDField):
    """Only the 8-4-4-4-12 form the API itself returns, as the schema's `format: uuid` says."""

    default_validators = [RegexValidator(CANONICAL_UUID, "Enter a valid UUID.")]

    def to_python(self, value: Any) -> UUID | None:  # type: ignore[override]
        if value not in self.empty_values:
            self.run_validators(value)
        return super().to_python(value)


class CanonicalUUIDFilter(django_filters.UUIDFilter):
    field_class = CanonicalUUIDField


class JobFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    contact_id = CanonicalUUIDFilter(field_name="contact_id")

    class Meta:
        model = Job
        fields = ["status", "contact_id"]
