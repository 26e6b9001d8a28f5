"""The naive DRF peer for `make bench`: what a typical team writes first — ModelViewSets with
ModelSerializers, LimitOffsetPagination, and a token authentication class that hashes the
bearer token and looks it up on every request. Django's default middleware. Never serves users.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework import authentication, exceptions, permissions, routers, serializers, viewsets
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from contacts.models import Contact
from files.models import JobFile
from jobs.models import Job
from portal.models import ApiToken, hash_token


class HashedTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return None
        token = (
            ApiToken.objects.select_related("tenant")
            .filter(key_hash=hash_token(header[7:].strip()))
            .first()
        )
        if token is None or not token.is_usable():
            raise exceptions.AuthenticationFailed("Invalid token")
        return token.tenant, token

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class IsTenant(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.auth is not None


class ContactSerializer(serializers.ModelSerializer[Contact]):
    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "company", "created_at", "updated_at"]


class JobSerializer(serializers.ModelSerializer[Job]):
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


class JobFileSerializer(serializers.ModelSerializer[JobFile]):
    class Meta:
        model = JobFile
        fields = ["id", "name", "kind", "content_type", "size", "sha256", "created_at"]


class TenantViewSet(viewsets.ReadOnlyModelViewSet[Any]):
    authentication_classes = [HashedTokenAuthentication]
    permission_classes = [IsTenant]
    pagination_class = LimitOffsetPagination
    model: Any

    def get_queryset(self) -> Any:
        return self.model.objects.filter(tenant=self.request.user).order_by("-created_at")


class ContactViewSet(TenantViewSet):
    model = Contact
    serializer_class = ContactSerializer


class JobViewSet(TenantViewSet):
    model = Job
    serializer_class = JobSerializer


class JobFileViewSet(TenantViewSet):
    model = JobFile
    serializer_class = JobFileSerializer

    def get_queryset(self) -> Any:
        return super().get_queryset().filter(job_id=self.kwargs["job_id"])


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "healthy"})


router = routers.SimpleRouter(trailing_slash=False)
router.register("v1/contacts", ContactViewSet, basename="contact")
router.register("v1/jobs", JobViewSet, basename="job")
router.register(r"v1/jobs/(?P<job_id>[^/]+)/files", JobFileViewSet, basename="file")

urlpatterns = [path("v1/health", health), path("", include(router.urls))]
