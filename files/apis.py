"""HTTP endpoints for /v1/jobs/{jobId}/files and the signed download route."""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import parsers, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from files import quotas, signing
from files.content_types import ACCEPTED
from files.models import FILE_ID_PATTERN, JobFile
from files.selectors import file_for_download
from files.services import (
    file_create,
    file_delete,
    file_open,
    file_signed_url,
)
from files.uploads import LimitedUploadHandler
from jobs.models import JOB_ID_PATTERN, Job
from portal.errors import DomainError
from portal.fastpaths import prepared
from portal.formats import rfc3339, size_text
from portal.http.pagination import EnvelopePagination
from portal.http.serializers import CharField, InputSerializer, ModelSerializer
from portal.http.views import APIPolicyMixin, check_content_length
from portal.tenancy.auth import TenantPrincipal
from portal.tenancy.scoping import TenantAPIView


def public_base_url(request: Request) -> str:
    return settings.PUBLIC_BASE_URL or f"{request.scheme}://{request.get_host()}"


# Multipart framing around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class JobFileSerializer(ModelSerializer):
    signed_url = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField()

    class Meta:
        model = JobFile
        fields = [
            "id",
            "name",
            "kind",
            "content_type",
            "size",
            "sha256",
            "signed_url",
            "expires_at",
            "created_at",
        ]
        read_only_fields = fields

    def _signed(self, obj: JobFile) -> signing.SignedUrl:
        # One issue time per response, so every item of a page expires together.
        cache: dict[str, signing.SignedUrl] = self.context.setdefault("_signed", {})
        if obj.id not in cache:
            cache[obj.id] = file_signed_url(
                job_file=obj,
                client=self.context["client"],
                base_url=self.context["base_url"],
                now=self.context["issued_at"],
            )
        return cache[obj.id]

    @extend_schema_field(OpenApiTypes.URI)
    def get_signed_url(self, obj: JobFile) -> str:
        return self._signed(obj).url

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, obj: JobFile) -> str:
        return rfc3339(self._signed(obj).expires_at)


class JobFileUploadSerializer(InputSerializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    # The default (blank) is also what Swagger UI's "Try it out" pre-fills, so trying the upload
    # keeps the uploaded file's own name instead of storing it as "string".
    name = CharField(
        max_length=255,
        default="",
        allow_blank=True,
        help_text="Display and download name; blank or absent means the uploaded file's name.",
    )


FILE_EXAMPLE = {
    "id": "file_prod001",
    "name": "production_document.pdf",
    "kind": "document",
    "content_type": "application/pdf",
    "size": 2457600,
    "sha256": "48b01ff24a4c5dc84392fb73b1685920ca9c8667d71942c9deb8db72d349dd4e",
    "signed_url": "https://api.example.com/v1/jobs/job_prod_test/files/file_prod001/download"
    "?expires=1795738949&client=pt_7qH0NJex&signature=95c1fe05862a3d9df5d7ce45e1d1d868d187f6"
    "2d6569a1fddb6520b4fac081b4",
    "expires_at": "2026-11-27T00:22:29.000Z",
    "created_at": "2026-11-26T23:51:45.704Z",
}
SIGNED_URL_TEXT = (
    "Each file carries a `signed_url`, good for at most 15 minutes (`expires_at`) and bound "
    "to the token that listed it: fetch it with no `Authorization` header."
)


class FileBase(APIPolicyMixin, TenantAPIView):
    """Files routes: a no-store policy on every response, errors included."""

    model = JobFile
    serializer_class = JobFileSerializer
    not_found_detail = "File not found"
    lookup_pattern = FILE_ID_PATTERN
    cache_control = "private, max-age=0, no-store"
    pragma_no_cache = True
    ratelimit_group = "files"

    def get_job(self, job_id: str) -> Job:
        if not _fullmatch(JOB_ID_PATTERN, job_id):
            raise DomainError("NOT_FOUND", "Job not found")
        job = prepared.tenant_row(Job, self.tenant.pk, job_id)
        if job is None:
            raise DomainError("NOT_FOUND", "Job not found")
        return job

    def serializer_context(self) -> dict[str, Any]:
        principal: TenantPrincipal = self.request.user  # type: ignore[assignment]
        return {
            "client": principal.token.prefix,
            "base_url": public_base_url(self.request),
            "issued_at": time.time(),
        }


def _fullmatch(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


class JobFileListView(FileBase):
    query_params = EnvelopePagination.query_params
    parser_classes = [parsers.MultiPartParser]
    problem_statuses = {"POST": ("507",)}

    @extend_schema(
        operation_id="job_files_list",
        tags=["files"],
        summary="List a job's files",
        description="The files attached to one of the tenant's jobs, newest first. "
        f"{SIGNED_URL_TEXT} Pages take `limit` and `offset` or `cursor`.",
        responses={
            200: OpenApiResponse(
                JobFileSerializer(many=True),
                description="A page of the job's files, each with a fresh signed link.",
                examples=[OpenApiExample("A page", value=FILE_EXAMPLE)],
            )
        },
    )
    def get(self, request: Request, job_id: str) -> Response:
        if not _fullmatch(JOB_ID_PATTERN, job_id):
            raise DomainError("NOT_FOUND", "Job not found")
        # One query in the steady state: the tenant's files of that job; only an empty page
        # asks whether the job exists at all (404) or just has no files.
        queryset = self.get_queryset().filter(job_id=job_id).order_by("-created_at", "-id")
        page = self.paginate_queryset(queryset)
        if not page:
            self.get_job(job_id)
        data = JobFileSerializer(page, many=True, context=self.serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        operation_id="job_files_create",
        tags=["files"],
        request={
            "multipart/form-data": OpenApiRequest(
                JobFileUploadSerializer,
                encoding={"file": {"contentType": ", ".join(ACCEPTED)}},
            )
        },
        responses={
            201: OpenApiResponse(
                JobFileSerializer,
                description="The stored file, with its checksum and a signed download link.",
                examples=[OpenApiExample("The uploaded file", value=FILE_EXAMPLE)],
            )
        },
        examples=[
            OpenApiExample(
                "A PDF with a display name",
                value={"file": "%PDF-1.4\n%%EOF\n", "name": "Site report.pdf"},
                request_only=True,
                media_type="multipart/form-data",
            )
        ],
        summary="Upload a file to a job",
        description="Send `multipart/form-data` with the file in the field `file` and, "
        "optionally, a display `name` (blank or absent: the uploaded file's name). The size "
        f"limit is {size_text(settings.FILE_UPLOAD_MAX_BYTES)} on this server "
        "(`FILE_UPLOAD_MAX_BYTES`; over it, 413 PAYLOAD_TOO_LARGE). Accepted types: "
        f"{', '.join(f'`{t}`' for t in ACCEPTED)}; any other is 415 UNSUPPORTED_MEDIA_TYPE. "
        "A part sent as `application/octet-stream` is typed by its file name, and the bytes "
        "must match the type (400 VALIDATION_ERROR otherwise). A JSON body is refused with "
        "415 and a hint to use multipart. An upload past the tenant's storage quota (see "
        "`GET /v1/usage`) is 413 STORAGE_QUOTA_EXCEEDED; when the server's disk is at its "
        "free-space floor, uploads are 507 INSUFFICIENT_STORAGE. Example: "
        "`curl -F file=@photo.jpg -F name=Before "
        "-H 'Authorization: Bearer pt_…' …/v1/jobs/job_prod_test/files`.",
    )
    def post(self, request: Request, job_id: str) -> Response:
        job = self.get_job(job_id)
        quotas.check_upload_room(job.tenant_id)
        check_content_length(
            request,
            settings.FILE_UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD_BYTES,
            f"the {size_text(settings.FILE_UPLOAD_MAX_BYTES)} file limit",
        )
        django_request = request._request
        django_request.upload_handlers = [
            LimitedUploadHandler(settings.FILE_UPLOAD_MAX_BYTES, django_request),
            *django_request.upload_handlers,
        ]
        serializer = JobFileUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job_file = file_create(
            job=job,
            upload=serializer.validated_data["file"],
            name=serializer.validated_data.get("name"),
        )
        return Response(
            JobFileSerializer(job_file, context=self.serializer_context()).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path}/{job_file.pk}"},
        )


class JobFileDetailView(FileBase):
    def get_file(self, job_id: str, file_id: str) -> JobFile:
        job = self.get_job(job_id)
        return self.get_object_or_404(file_id, self.get_queryset().filter(job=job))  # type: ignore[no-any-return]

    @extend_schema(
        operation_id="job_files_retrieve",
        tags=["files"],
        summary="Get a file's details",
        description=f"One file of one of the tenant's jobs, with a fresh signed link. "
        f"{SIGNED_URL_TEXT}",
        responses={
            200: OpenApiResponse(
                JobFileSerializer,
                description="The file's details.",
                examples=[OpenApiExample("A file", value=FILE_EXAMPLE)],
            )
        },
    )
    def get(self, request: Request, job_id: str, file_id: str) -> Response:
        job_file = self.get_file(job_id, file_id)
        return Response(JobFileSerializer(job_file, context=self.serializer_context()).data)

    @extend_schema(
        operation_id="job_files_destroy",
        tags=["files"],
        summary="Delete a file",
        description="Deletes the file; its stored bytes are removed once the deletion has "
        "committed, and signed links to it stop working.",
        responses={204: OpenApiResponse(None, description="Deleted; no body.")},
    )
    def delete(self, request: Request, job_id: str, file_id: str) -> Response:
        file_delete(job_file=self.get_file(job_id, file_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobFileDownloadView(APIPolicyMixin, APIView):
    """Streams a file to whoever holds a valid signed link; no bearer token needed."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    cache_control = "private, max-age=0, no-store"
    pragma_no_cache = True
    ratelimit_group = "files"
    query_params = frozenset({"expires", "client", "signature"})

    @extend_schema(
        operation_id="job_files_download",
        tags=["files"],
        auth=[],
        summary="Download a file by its signed link",
        description="The `signed_url` of a file, as the list or detail gave it: no bearer "
        "token. The response is the file's bytes as an attachment, with its stored content "
        "type. A link that was altered is 403 PERMISSION_DENIED; one past `expires` is 403 "
        "SIGNED_URL_EXPIRED (list the job's files for a fresh one).",
        parameters=[
            OpenApiParameter(
                "expires", int, required=True, description="Unix time the link expires at."
            ),
            OpenApiParameter(
                "client", str, required=True, description="The token prefix it was issued to."
            ),
            OpenApiParameter(
                "signature", str, required=True, description="HMAC-SHA256 of the link, hex."
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file's bytes (Content-Disposition: attachment).",
            )
        },
    )
    def get(self, request: Request, job_id: str, file_id: str) -> Any:
        params = request.query_params
        try:
            _, client = signing.verify(
                path=request.path_info,
                expires=params.get("expires"),
                client=params.get("client"),
                signature=params.get("signature"),
            )
        except signing.SignatureError as exc:
            code = "SIGNED_URL_EXPIRED" if exc.expired else "PERMISSION_DENIED"
            raise DomainError(code, str(exc)) from None
        job_file = file_for_download(job_id=job_id, file_id=file_id, client=client)
        response = FileResponse(
            file_open(job_file),
            as_attachment=True,
            filename=job_file.name,
            content_type=job_file.content_type,
        )
        # Uploaded content is served from the API's origin: never let a browser run it.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class StorageUsageSerializer(serializers.Serializer[Any]):
    bytes = serializers.IntegerField(help_text="Bytes of job files the tenant stores.")
    files = serializers.IntegerField(help_text="Job files the tenant stores.")
    max_bytes = serializers.IntegerField(
        allow_null=True, help_text="The quota in bytes; null: no limit."
    )
    max_files = serializers.IntegerField(
        allow_null=True, help_text="The quota in files; null: no limit."
    )


class UsageSerializer(serializers.Serializer[Any]):
    storage = StorageUsageSerializer()


class UsageView(APIPolicyMixin, TenantAPIView):
    """The calling tenant's usage against its quotas."""

    model = JobFile

    @extend_schema(
        operation_id="usage_retrieve",
        tags=["usage"],
        summary="Get the tenant's storage usage and quota",
        description="What the calling tenant stores in job files and what it may store. An "
        "upload past either limit is refused with 413 STORAGE_QUOTA_EXCEEDED, whose problem "
        "body names the `quota` (`bytes` or `files`) and carries this `usage`.",
        responses={
            200: OpenApiResponse(
                UsageSerializer,
                description="Usage and quota.",
                examples=[
                    OpenApiExample(
                        "Usage",
                        value={
                            "storage": {
                                "bytes": 52428800,
                                "files": 12,
                                "max_bytes": 10737418240,
                                "max_files": 10000,
                            }
                        },
                    )
                ],
            )
        },
    )
    def get(self, request: Request) -> Response:
        return Response({"storage": quotas.usage_of(self.tenant.pk).as_dict()})
