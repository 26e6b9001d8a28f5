"""Reads of job files."""

from __future__ import annotations

from files.models import JobFile
from portal.errors import DomainError, NotFoundError
from portal.models import ApiToken


def file_for_download(*, job_id: str, file_id: str, client: str) -> JobFile:
    """The file a verified signed link opens. A link dies with the token it was issued to and
    with its tenant's suspension, and only ever opens that token's tenant's files (anything
    else is not found, exactly like a missing file)."""
    token = ApiToken.objects.select_related("tenant").filter(prefix=client).first()
    if token is None or not token.is_usable():
        raise DomainError(
            "PERMISSION_DENIED", "The token this link was issued to is no longer valid"
        )
    if not token.tenant.is_active:
        raise DomainError("PERMISSION_DENIED", "This tenant is suspended")
    job_file = JobFile.objects.filter(pk=file_id, job_id=job_id, tenant_id=token.tenant_id).first()
    if job_file is None:
        raise NotFoundError("File not found")
    return job_file
