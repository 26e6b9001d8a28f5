"""Writes of job files, and their signed links."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pybreaker
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from files import quotas, signing
from files.content_types import (
    ACCEPTED,
    detect_content_type,
    effective_content_type,
    guess_content_type,
)
from files.models import JobFile, new_file_id
from jobs.models import Job
from portal.errors import DomainError, NotFoundError, PayloadTooLargeError
from portal.formats import size_text
from portal.resilience.breakers import breakers, guard

logger = logging.getLogger("portal.files")

# Characters no display name keeps: controls, format characters (bidi overrides, zero-width
# joiners), line and paragraph separators, surrogates, private-use and unassigned code points.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
NAME_MAX_CHARS = 255
# Stored object names are ASCII and short, whatever the display name: every file system and
# bucket takes them, and `get_valid_filename` never reduces them to nothing.
STORAGE_STEM_MAX = 80
_STORAGE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_clean_name(raw: str) -> str:
    """A display and download name: no path, no invisible or direction-changing characters,
    NFC, at most 255 characters; "file" when nothing is left."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch) not in INVISIBLE_CATEGORIES)
    name = name.strip().strip(".").strip()
    if len(name) > NAME_MAX_CHARS:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: NAME_MAX_CHARS - len(ext)].rstrip() + ext
    return name or "file"


def file_storage_name(display_name: str) -> str:
    """The name the bytes are stored under: ASCII letters, digits, `._-`, at most about 100
    bytes, never empty. Each file has a directory of its own, so names need not be unique."""
    stem, ext = os.path.splitext(display_name)
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    safe_stem = _STORAGE_UNSAFE.sub("_", ascii_stem).strip("._-")[:STORAGE_STEM_MAX] or "file"
    safe_ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:16].lower()
    return f"{safe_stem}.{safe_ext}" if safe_ext else safe_stem


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def file_create(*, job: Job, upload: UploadedFile, name: str | None = None) -> JobFile:
    """Validates and stores an upload. Bytes are written before the row, and removed again if
    the row cannot be saved, so neither is ever left without the other."""
    filename = file_clean_name(name or upload.name or "file")
    size = upload.size or 0
    limit = settings.FILE_UPLOAD_MAX_BYTES
    if size > limit:
        raise PayloadTooLargeError(f"File exceeds the {size_text(limit)} limit")
    if size == 0:
        raise ValidationError({"file": ["The file is empty."]})
    content_type = effective_content_type(upload.content_type, upload.name or "", filename)
    accepted = ACCEPTED.get(content_type)
    if accepted is None:
        raise DomainError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"Files of type {content_type} are not accepted; see the API docs for the list",
        )
    head = upload.read(8192)
    upload.seek(0)
    # The bytes decide what is stored and served: a PNG sent as a PDF is kept as a PNG, and
    # bytes that are no accepted type at all (an executable sent as video/mp4) are refused.
    detected = detect_content_type(
        head, content_type, *(guess_content_type(n) for n in (upload.name or "", filename))
    )
    if detected is None:
        raise ValidationError(
            {"file": [f"The file's content is not valid {content_type} or any accepted type."]}
        )
    content_type, accepted = detected, ACCEPTED[detected]

    job_file = JobFile(
        id=new_file_id(),
        tenant_id=job.tenant_id,
        job=job,
        name=filename,
        content_type=content_type,
        kind=accepted.kind,
        size=size,
        sha256=_sha256(upload),
    )
    # Refused before a byte is written: over the quota (413), or the disk at its floor (507).
    quotas.check_quota(job.tenant_id, size)
    quotas.check_disk_floor(job_file.blob.storage, size)
    guard(breakers.storage, job_file.blob.save, file_storage_name(filename), upload, save=False)
    try:
        with transaction.atomic():
            # The job is locked while its file is added, so a concurrent delete of the job
            # either waits for this row or has already happened (then: not found).
            if not Job.objects.select_for_update().filter(pk=job.pk).exists():
                raise NotFoundError("Job not found")
            # Checked again under the tenant's usage lock, held until the row is committed.
            quotas.hold_quota(job.tenant_id, size)
            job_file.full_clean()
            job_file.save(force_insert=True)
    except BaseException:
        file_delete_bytes(str(job_file.blob.name), job_file.blob.storage)
        raise
    return job_file


def file_open(job_file: JobFile) -> Any:
    """The stored bytes, opened for reading through the storage breaker."""
    try:
        return guard(breakers.storage, job_file.blob.open, "rb")
    except FileNotFoundError:
        logger.error("Stored bytes of %s are missing (%s)", job_file.id, job_file.blob.name)
        raise NotFoundError("The file's content is missing; upload it again") from None


@transaction.atomic
def file_delete(*, job_file: JobFile) -> None:
    # The post_delete receiver removes the bytes once the deletion has committed.
    job_file.delete()


def file_delete_bytes(name: str, storage: Any) -> None:
    try:
        breakers.storage.call(storage.delete, name)
    except (pybreaker.CircuitBreakerError, OSError, BotoCoreError, ClientError):
        # The row is gone already; a leftover blob is logged for the operator, not fatal.
        logger.exception("Could not delete stored file %s; remove it by hand", name)
        return
    _prune_empty_directories(name, storage)


def _prune_empty_directories(name: str, storage: Any) -> None:
    """On a disk, the directories the file leaves empty go too (up to, not including, the
    storage root); a directory another file still uses, or one being filled meanwhile, stays."""
    location = getattr(storage, "location", None)
    if not location or getattr(storage, "bucket_name", None):
        return
    root = Path(location).resolve()
    directory = (root / name).parent.resolve()
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()  # only succeeds when empty
        except OSError:
            return
        directory = directory.parent


def download_path(job_file: JobFile) -> str:
    return f"/v1/jobs/{job_file.job_id}/files/{job_file.id}/download"


def file_signed_url(
    *, job_file: JobFile, client: str, base_url: str, now: float | None = None
) -> signing.SignedUrl:
    """A link to the bytes that lives at most SIGNED_URL_TTL_SECONDS: the API's own signed
    download route for local storage, an S3 presigned URL for S3."""
    storage = job_file.blob.storage
    if getattr(storage, "querystring_auth", False) and hasattr(storage, "bucket_name"):
        return _s3_presigned(job_file, storage)
    return signing.sign(base_url=base_url, path=download_path(job_file), client=client, now=now)


def _s3_presigned(job_file: JobFile, storage: Any) -> signing.SignedUrl:
    ttl = settings.SIGNED_URL_TTL_SECONDS
    url: str = storage.url(
        job_file.blob.name,
        expire=ttl,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{job_file.name}"',
            "ResponseCacheControl": "private, max-age=0, no-store",
        },
    )
    # The URL's own signing time plus its lifetime: exactly when S3 will refuse it.
    query = parse_qs(urlsplit(url).query)
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signing.SignedUrl(url=url, expires=int(signed_at.timestamp()) + ttl)
