"""Plain Django views answering the same JSON as the API's list and detail endpoints, the way
the issue defines the ceiling: a token lookup (hashed, one query), a count, a page, hand-built
JSON. No DRF, no middleware, no rate limiting, no validation beyond what a crash would need:
the framework's ceiling for `make bench`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import path

from contacts.models import Contact
from files import signing
from files.models import JobFile
from files.services import download_path
from jobs.models import Job
from portal.formats import rfc3339
from portal.models import ApiToken, Tenant, hash_token


def ts(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def _token(request: HttpRequest) -> ApiToken | None:
    # A plain lookup by hash, one query per request.
    raw = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
    token = ApiToken.objects.select_related("tenant").filter(key_hash=hash_token(raw)).first()
    return token if token is not None and token.is_usable() else None


def _page(request: HttpRequest) -> tuple[int, int]:
    return int(request.GET.get("limit", 20)), int(request.GET.get("offset", 0))


def _envelope(rows: list[dict[str, Any]], total: int, limit: int, offset: int) -> JsonResponse:
    return JsonResponse(
        {
            "data": rows,
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < total,
        }
    )


def _contact(c: Contact) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "company": c.company,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
    }


def _count(request: HttpRequest, queryset: QuerySet[Any], token: ApiToken) -> int:
    return queryset.count()


def _unauthorized() -> JsonResponse:
    return JsonResponse({"status": 401}, status=401)


def health(request: HttpRequest) -> JsonResponse:
    # What a plain health view checks: a database round trip.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse(
        {
            "status": "healthy",
            "timestamp": ts(datetime.now(UTC)),
            "version": settings.APP_VERSION,
            "circuitBreakers": {},
        }
    )


def contacts(request: HttpRequest) -> JsonResponse:
    token = _token(request)
    if token is None:
        return _unauthorized()
    limit, offset = _page(request)
    queryset = Contact.objects.filter(tenant=token.tenant)
    rows = list(queryset.order_by("-created_at")[offset : offset + limit])
    return _envelope([_contact(c) for c in rows], _count(request, queryset, token), limit, offset)


def contact(request: HttpRequest, contact_id: str) -> JsonResponse:
    token = _token(request)
    if token is None:
        return _unauthorized()
    found = Contact.objects.filter(tenant=token.tenant, pk=contact_id).first()
    if found is None:
        return JsonResponse({"status": 404}, status=404)
    return JsonResponse(_contact(found))


def jobs(request: HttpRequest) -> JsonResponse:
    token = _token(request)
    if token is None:
        return _unauthorized()
    limit, offset = _page(request)
    queryset = Job.objects.filter(tenant=token.tenant)
    rows = [
        {
            "id": j.id,
            "title": j.title,
            "status": j.status,
            "contact_id": str(j.contact_id),
            "scheduled_for": ts(j.scheduled_for),
            "created_at": ts(j.created_at),
            "updated_at": ts(j.updated_at),
        }
        for j in queryset.order_by("-created_at")[offset : offset + limit]
    ]
    return _envelope(rows, _count(request, queryset, token), limit, offset)


def job_files(request: HttpRequest, job_id: str) -> JsonResponse:
    token = _token(request)
    if token is None:
        return _unauthorized()
    tenant: Tenant = token.tenant
    job = Job.objects.filter(tenant=tenant, pk=job_id).first()
    if job is None:
        return JsonResponse({"status": 404}, status=404)
    limit, offset = _page(request)
    queryset = JobFile.objects.filter(tenant=tenant, job=job)
    base = f"{request.scheme}://{request.get_host()}"
    rows = []
    for f in queryset.order_by("-created_at")[offset : offset + limit]:
        signed = signing.sign(base_url=base, path=download_path(f), client=token.prefix)
        rows.append(
            {
                "id": f.id,
                "name": f.name,
                "kind": f.kind,
                "content_type": f.content_type,
                "size": f.size,
                "sha256": f.sha256,
                "signed_url": signed.url,
                "expires_at": ts(signed.expires_at),
                "created_at": ts(f.created_at),
            }
        )
    response = _envelope(rows, _count(request, queryset, token), limit, offset)
    response["Cache-Control"] = "private, max-age=0, no-store"
    return response


urlpatterns = [
    path("v1/health", health),
    path("v1/contacts", contacts),
    path("v1/contacts/<str:contact_id>", contact),
    path("v1/jobs", jobs),
    path("v1/jobs/<str:job_id>/files", job_files),
]
