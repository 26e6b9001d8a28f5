"""HTTP endpoints for /v1/jobs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from contacts.models import CONTACT_ID_PATTERN, Contact
from jobs.filters import JobFilter
from jobs.models import JOB_ID_PATTERN, TRANSITIONS, Job, JobStatus
from jobs.services import job_create, job_delete, job_update
from portal.http.filters import FilterBackend, StrictOrderingFilter
from portal.http.pagination import EnvelopePagination, as_rows
from portal.http.serializers import CharField, DateTimeField, InputSerializer, ModelSerializer
from portal.http.views import APIPolicyMixin
from portal.tenancy.scoping import TenantAPIView, TenantRelatedField


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


JOB_EXAMPLE = {
    "id": "job_acme_0341",
    "title": "Survey windows",
    "status": "scheduled",
    "contact_id": "a95efc2b-1808-55e9-bddb-12022eeb438a",
    "scheduled_for": "2026-12-02T09:30:00.000Z",
    "created_at": "2026-11-26T23:51:45.684Z",
    "updated_at": "2026-11-26T23:51:45.684Z",
}
TRANSITIONS_TEXT = "; ".join(
    f"`{current}` → {', '.join(f'`{n}`' for n in sorted(allowed)) or 'nothing (final)'}"
    for current, allowed in TRANSITIONS.items()
)


class JobBase(APIPolicyMixin, TenantAPIView):
    model = Job
    serializer_class = JobSerializer
    not_found_detail = "Job not found"
    lookup_pattern = JOB_ID_PATTERN


class JobListView(JobBase):
    query_params = EnvelopePagination.query_params
    filter_backends = [FilterBackend, StrictOrderingFilter]
    filterset_class = JobFilter
    ordering_fields = ["created_at", "updated_at", "scheduled_for", "title", "status"]
    ordering = ["-created_at"]

    @extend_schema(
        operation_id="jobs_list",
        tags=["jobs"],
        summary="List jobs",
        description="The tenant's jobs, newest first unless `ordering` says otherwise. Filter "
        "by `status` and by `contact_id`. Pages take `limit` and `offset` (up to 10,000) or, "
        "at any depth, the `cursor` a page's `next_cursor` gives.",
        responses={
            200: OpenApiResponse(
                JobSerializer(many=True),
                description="A page of jobs, with the total and the next page's cursor.",
                examples=[OpenApiExample("A page", value=JOB_EXAMPLE)],
            )
        },
    )
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(as_rows(queryset, JobSerializer().value_sources()))
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(
        operation_id="jobs_create",
        tags=["jobs"],
        summary="Create a job",
        description="Creates a job for one of the tenant's contacts (`contact_id`). A new "
        "job starts `pending` (the default) or `scheduled`; `scheduled_for` is an RFC 3339 "
        "time. `Location` gives the new job's URL.",
        request=JobInputSerializer,
        responses={201: OpenApiResponse(JobSerializer, description="The job, as stored.")},
        examples=[
            OpenApiExample(
                "A scheduled job",
                value={
                    "title": "Survey windows",
                    "contact_id": "a95efc2b-1808-55e9-bddb-12022eeb438a",
                    "status": "scheduled",
                    "scheduled_for": "2026-12-02T09:30:00Z",
                },
                request_only=True,
            ),
            OpenApiExample(
                "A pending job",
                value={"title": "Call back", "contact_id": "a95efc2b-1808-55e9-bddb-12022eeb438a"},
                request_only=True,
            ),
            OpenApiExample(
                "The created job", value=JOB_EXAMPLE, response_only=True, status_codes=["201"]
            ),
        ],
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
    @extend_schema(
        operation_id="jobs_retrieve",
        tags=["jobs"],
        summary="Get a job",
        description="One job by id. Another tenant's job is not found (404).",
        responses={
            200: OpenApiResponse(
                JobSerializer,
                description="The job.",
                examples=[OpenApiExample("A job", value=JOB_EXAMPLE)],
            )
        },
    )
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobSerializer(self.get_object_or_404(job_id)).data)

    @extend_schema(
        operation_id="jobs_update",
        tags=["jobs"],
        summary="Update a job",
        description="Changes the fields given and leaves the others. A status change must "
        f"follow the lifecycle: {TRANSITIONS_TEXT}. Any other is refused with 409 "
        "INVALID_STATUS_TRANSITION, whose detail lists the allowed next statuses; nothing is "
        "changed.",
        request=JobInputSerializer(partial=True),
        responses={200: OpenApiResponse(JobSerializer, description="The updated job.")},
        examples=[
            OpenApiExample("Start the job", value={"status": "in_progress"}, request_only=True),
            OpenApiExample(
                "Reschedule",
                value={"scheduled_for": "2026-12-03T14:00:00Z"},
                request_only=True,
            ),
            OpenApiExample(
                "The updated job",
                value={**JOB_EXAMPLE, "status": "in_progress"},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def patch(self, request: Request, job_id: str) -> Response:
        job = self.get_object_or_404(job_id)
        serializer = JobInputSerializer(
            data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        return Response(JobSerializer(job_update(job=job, data=data)).data)

    @extend_schema(
        operation_id="jobs_destroy",
        tags=["jobs"],
        summary="Delete a job",
        description="Deletes the job and its files (their stored bytes are removed once the "
        "deletion has committed).",
        responses={204: OpenApiResponse(None, description="Deleted; no body.")},
    )
    def delete(self, request: Request, job_id: str) -> Response:
        job_delete(job=self.get_object_or_404(job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
