"""HTTP endpoints for /v1/jobs."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from contacts.models import CONTACT_ID_PATTERN, Contact
from jobs.filters import JobFilter
from jobs.models import JOB_ID_PATTERN, Job, JobStatus
from jobs.services import job_create, job_delete, job_update
from portal.drf import (
    APIPolicyMixin,
    CharField,
    DateTimeField,
    InputSerializer,
    ModelSerializer,
    StrictOrderingFilter,
)
from portal.pagination import EnvelopePagination
from portal.tenancy import TenantAPIView, TenantRelatedField


class JobSerializer(ModelSerializer):
    contact_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "title",
            "status",
            "contact_id",
            "scheduled_for",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class JobInputSerializer(InputSerializer):
    title = CharField(max_length=200)
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    contact_id = TenantRelatedField(
        model=Contact, label="Contact", pattern=CONTACT_ID_PATTERN, source="contact"
    )
    scheduled_for = DateTimeField(required=False, allow_null=True)


class JobBase(APIPolicyMixin, TenantAPIView):
    model = Job
    serializer_class = JobSerializer
    not_found_detail = "Job not found"
    lookup_pattern = JOB_ID_PATTERN


class JobListView(JobBase):
    query_params = EnvelopePagination.query_params
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = JobFilter
    ordering_fields = ["created_at", "updated_at", "scheduled_for", "title", "status"]
    ordering = ["-created_at"]

    @extend_schema(operation_id="jobs_list", tags=["jobs"], responses=JobSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(
        operation_id="jobs_create",
        tags=["jobs"],
        request=JobInputSerializer,
        responses={201: JobSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = JobInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        job = job_create(tenant=self.tenant, **serializer.validated_data)
        return Response(
            JobSerializer(job).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path}/{job.pk}"},
        )


class JobDetailView(JobBase):
    @extend_schema(operation_id="jobs_retrieve", tags=["jobs"])
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobSerializer(self.get_object_or_404(job_id)).data)

    @extend_schema(
        operation_id="jobs_update",
        tags=["jobs"],
        request=JobInputSerializer(partial=True),
        responses={200: JobSerializer},
        description="Partial update. A status change must follow the transition table; "
        "an illegal one is a 409 problem with code INVALID_STATUS_TRANSITION.",
    )
    def patch(self, request: Request, job_id: str) -> Response:
        job = self.get_object_or_404(job_id)
        serializer = JobInputSerializer(
            data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        return Response(JobSerializer(job_update(job=job, data=data)).data)

    @extend_schema(operation_id="jobs_destroy", tags=["jobs"], responses={204: None})
    def delete(self, request: Request, job_id: str) -> Response:
        job_delete(job=self.get_object_or_404(job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
