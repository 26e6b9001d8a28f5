"""Storage quotas and the disk floor: what a tenant may store, what it stores now, and whether
the disk under local storage can take one more upload.

A tenant's usage is one row (`StorageUsage`), changed by the JobFile signals in the same
transaction as each insert and delete, whoever writes the row (the API, the admin, a cascade,
the demo data), so it never disagrees with the files. An upload takes that row's write lock
with its quota check (a conditional UPDATE: PostgreSQL's row lock, SQLite's database write
lock) and holds it until it commits, so two concurrent uploads never both fit in the last free
bytes.

A quota is the client's own limit: 413 `STORAGE_QUOTA_EXCEEDED`, a 4xx that no SLO counts. The
disk floor is the server's: 507 `INSUFFICIENT_STORAGE`, refused before the write, so a full
disk never opens the storage breaker for every tenant.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum

from files.models import JobFile, StorageUsage
from portal.errors import DomainError
from portal.formats import size_text
from portal.models import Tenant


@dataclass(frozen=True)
class Usage:
    """What a tenant stores and may store; a limit of None is no limit."""

    bytes: int
    files: int
    max_bytes: int | None
    max_files: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fraction(self) -> float:
        """The larger of the two shares of the quota in use (0 with no limits)."""
        shares = [
            used / limit if limit else (1.0 if used else 0.0)
            for used, limit in ((self.bytes, self.max_bytes), (self.files, self.max_files))
            if limit is not None
        ]
        return max(shares, default=0.0)


def _limit(own: int | None, plan: int | None, default: int) -> int | None:
    if own is not None:
        return own
    if plan is not None:
        return plan
    return default or None


def quota_of(tenant_id: int) -> tuple[int | None, int | None]:
    """(max bytes, max files): the tenant's own limits, else its plan's, else the settings'."""
    row = (
        Tenant.objects.filter(pk=tenant_id)
        .values_list(
            "storage_max_bytes",
            "storage_max_files",
            "plan__storage_max_bytes",
            "plan__storage_max_files",
        )
        .first()
    )
    own_bytes, own_files, plan_bytes, plan_files = row or (None, None, None, None)
    return (
        _limit(own_bytes, plan_bytes, settings.STORAGE_QUOTA_BYTES),
        _limit(own_files, plan_files, settings.STORAGE_QUOTA_FILES),
    )


def quota_for(tenant: Tenant) -> tuple[int | None, int | None]:
    """`quota_of` for a tenant already loaded (with its plan, to save a query)."""
    plan = tenant.plan
    return (
        _limit(
            tenant.storage_max_bytes,
            plan.storage_max_bytes if plan else None,
            settings.STORAGE_QUOTA_BYTES,
        ),
        _limit(
            tenant.storage_max_files,
            plan.storage_max_files if plan else None,
            settings.STORAGE_QUOTA_FILES,
        ),
    )


def counted(tenant_id: int) -> tuple[int, int]:
    """(bytes, files) counted from the tenant's JobFile rows."""
    totals = JobFile.objects.filter(tenant_id=tenant_id).aggregate(
        bytes=Sum("size", default=0), files=Count("pk")
    )
    return int(totals["bytes"]), int(totals["files"])


def usage_of(tenant_id: int) -> Usage:
    row = StorageUsage.objects.filter(tenant_id=tenant_id).values_list("bytes", "files").first()
    used_bytes, used_files = row or counted(tenant_id)
    return Usage(used_bytes, used_files, *quota_of(tenant_id))


def _ensure_row(tenant_id: int) -> None:
    """Creates the tenant's usage row, counted from its files, if it has none yet."""
    if StorageUsage.objects.filter(tenant_id=tenant_id).exists():
        return
    used_bytes, used_files = counted(tenant_id)
    try:
        with transaction.atomic():
            StorageUsage.objects.create(tenant_id=tenant_id, bytes=used_bytes, files=used_files)
    except IntegrityError:
        pass  # a concurrent request made it; its count includes everything committed


def record(tenant_id: int, *, size: int, files: int) -> None:
    """Adds a file's size (or, with negative values, takes it away) in the caller's
    transaction. A row made here is counted from the files, which already include the
    change."""
    changed = StorageUsage.objects.filter(tenant_id=tenant_id).update(
        bytes=F("bytes") + size, files=F("files") + files
    )
    if not changed and Tenant.objects.filter(pk=tenant_id).exists():
        _ensure_row(tenant_id)


def _refusal(usage: Usage, size: int) -> DomainError | None:
    if usage.max_files is not None and usage.files + 1 > usage.max_files:
        return _quota_error(
            usage,
            size,
            "files",
            f"The tenant's storage quota of {usage.max_files:,} files is used up "
            f"({usage.files:,} stored); delete files or ask for a larger quota",
        )
    if usage.max_bytes is not None and usage.bytes + size > usage.max_bytes:
        left = max(0, usage.max_bytes - usage.bytes)
        return _quota_error(
            usage,
            size,
            "bytes",
            f"This upload ({size_text(size)}) would pass the tenant's storage quota of "
            f"{size_text(usage.max_bytes)}; {size_text(left)} is left. Delete files or ask "
            "for a larger quota",
        )
    return None


def _quota_error(usage: Usage, size: int, quota: str, detail: str) -> DomainError:
    return DomainError(
        "STORAGE_QUOTA_EXCEEDED",
        detail,
        extensions={"quota": quota, "usage": usage.as_dict(), "requested_bytes": size},
    )


def check_quota(tenant_id: int, size: int) -> None:
    """Refuses, without locking, an upload of `size` bytes the quota has no room for: the
    early answer before a body is read. `hold_quota` is the one that counts."""
    refusal = _refusal(usage_of(tenant_id), size)
    if refusal is not None:
        raise refusal


def hold_quota(tenant_id: int, size: int) -> None:
    """Checks that `size` more bytes and one more file fit, and holds the tenant's usage row
    locked until the caller's transaction ends. Must run inside that transaction, before the
    JobFile row is inserted."""
    max_bytes, max_files = quota_of(tenant_id)
    _ensure_row(tenant_id)
    room = Q(tenant_id=tenant_id)
    if max_bytes is not None:
        room &= Q(bytes__lte=max_bytes - size)
    if max_files is not None:
        room &= Q(files__lte=max_files - 1)
    # A write that changes nothing but takes the row's lock when it matches.
    if StorageUsage.objects.filter(room).update(bytes=F("bytes")):
        return
    refusal = _refusal(usage_of(tenant_id), size)
    raise refusal or DomainError(
        "STORAGE_QUOTA_EXCEEDED", "The tenant's storage quota has no room for this upload"
    )


def disk_free(storage: Any) -> int | None:
    """Free bytes on the disk under a file-system storage; None for object storage (S3)."""
    location = getattr(storage, "location", None)
    if not location or getattr(storage, "bucket_name", None):
        return None
    try:
        return shutil.disk_usage(location).free
    except FileNotFoundError:
        # Django makes the directory on the first save; until then its parent's disk counts.
        return shutil.disk_usage(_existing_parent(location)).free


def _existing_parent(location: str) -> str:
    path = Path(location).resolve()
    while not path.exists():
        path = path.parent
    return str(path)


def check_disk_floor(storage: Any, size: int) -> None:
    """Refuses (507) an upload that would leave less than STORAGE_MIN_FREE_BYTES free on the
    disk under local storage."""
    floor = settings.STORAGE_MIN_FREE_BYTES
    if not floor:
        return
    free = disk_free(storage)
    if free is not None and free - size < floor:
        raise DomainError(
            "INSUFFICIENT_STORAGE",
            "The server's file storage is full; uploads are refused until an operator frees "
            "space (reads and deletes still work)",
        )


def check_upload_room(tenant_id: int) -> None:
    """The answer before an upload's body is read: no file fits (the quota is used up), or the
    disk is at its floor. The upload itself is checked again with its real size."""
    check_quota(tenant_id, 1)
    check_disk_floor(JobFile._meta.get_field("blob").storage, 0)


@dataclass(frozen=True)
class StorageSummary:
    """For operators: the disk under local storage against its floor, and the tenants
    closest to their quotas."""

    disk_free: int | None  # None: object storage, no disk to fill
    floor: int
    tenants: list[tuple[str, Usage]]
    total_bytes: int
    total_files: int

    @property
    def at_floor(self) -> bool:
        return self.disk_free is not None and self.disk_free < self.floor


def storage_summary(top: int = 10) -> StorageSummary:
    rows = StorageUsage.objects.select_related("tenant__plan").only(
        "bytes",
        "files",
        "tenant__slug",
        "tenant__storage_max_bytes",
        "tenant__storage_max_files",
        "tenant__plan__storage_max_bytes",
        "tenant__plan__storage_max_files",
    )
    usages = [
        (row.tenant.slug, Usage(row.bytes, row.files, *quota_for(row.tenant)))
        for row in rows.iterator(chunk_size=2000)
    ]
    usages.sort(key=lambda item: (-item[1].fraction(), -item[1].bytes, item[0]))
    return StorageSummary(
        disk_free=disk_free(JobFile._meta.get_field("blob").storage),
        floor=settings.STORAGE_MIN_FREE_BYTES,
        tenants=usages[:top],
        total_bytes=sum(usage.bytes for _, usage in usages),
        total_files=sum(usage.files for _, usage in usages),
    )
