"""Files attached to jobs. Bytes live in the configured storage; rows hold their metadata."""

from __future__ import annotations

from django.db import models

from jobs.models import Job
from portal.models import Tenant, random_id
from portal.tenancy.scoping import TenantOwnedModel, TenantQuerySet

FILE_ID_PATTERN = r"file_[A-Za-z0-9_-]{1,59}"


def new_file_id() -> str:
    return f"file_{random_id(24)}"


def storage_path(instance: JobFile, filename: str) -> str:
    # Tenant first, so a bucket policy or a backup can be scoped per tenant.
    return f"tenants/{instance.tenant_id}/jobs/{instance.job_id}/files/{instance.id}/{filename}"


class FileKind(models.TextChoices):
    DOCUMENT = "document", "Document"
    SPREADSHEET = "spreadsheet", "Spreadsheet"
    PRESENTATION = "presentation", "Presentation"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    ARCHIVE = "archive", "Archive"
    TEXT = "text", "Text"


class JobFile(TenantOwnedModel):
    id = models.CharField(primary_key=True, max_length=64, default=new_file_id, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=FileKind.choices)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.FileField(upload_to=storage_path, max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet["JobFile"].as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["job", "-created_at", "-id"], name="jobfile_job_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class StorageUsage(models.Model):
    """What a tenant stores now: kept in step with its JobFile rows, in the same transaction as
    each insert and delete (files/quotas.py), so a quota check reads one row."""

    tenant = models.OneToOneField(
        Tenant, primary_key=True, on_delete=models.CASCADE, related_name="storage_usage"
    )
    bytes = models.BigIntegerField(default=0)
    files = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "storage usage"

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.files} files, {self.bytes} bytes"
