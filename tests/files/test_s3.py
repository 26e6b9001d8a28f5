"""FILE_STORAGE=s3 against moto's S3 server.

AWS itself cannot be reached from this machine, so moto's server stands in for it: boto3 and
django-storages talk real HTTP to it, and the presigned URLs are fetched over HTTP too.
moto's server does not verify SigV4 signatures or expiry on presigned URLs, so refusing a
tampered or expired URL is S3's own behaviour and is not asserted here; what is asserted is
that the URL is a SigV4 presigned URL with a 900-second lifetime that downloads the bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer
from rest_framework.test import APIClient

from files.models import JobFile
from portal.models import Tenant
from tests.factories import PDF_BYTES, JobFactory
from tests.live.server import free_port

pytestmark = pytest.mark.django_db
BUCKET = "portal-files-test"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(settings: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.FILE_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "region_name": "us-east-1",
                "endpoint_url": moto_url,
                "querystring_auth": True,
                "file_overwrite": False,
                "default_acl": None,
                "signature_version": "s3v4",
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def upload(api: APIClient, tenant: Tenant) -> dict[str, Any]:
    job = JobFactory.create(tenant=tenant)
    response = api.post(
        f"/v1/jobs/{job.id}/files",
        {"file": SimpleUploadedFile("quote.pdf", PDF_BYTES, content_type="application/pdf")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def test_uploads_land_in_the_bucket(api: APIClient, tenant: Tenant, bucket: Any) -> None:
    body = upload(api, tenant)
    key = JobFile.objects.get(pk=body["id"]).blob.name
    assert key.startswith(f"tenants/{tenant.pk}/jobs/")
    stored = bucket.get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == PDF_BYTES
    assert stored["ContentType"] == "application/pdf"


def test_signed_urls_are_presigned_and_expire_within_15_minutes(
    api: APIClient, tenant: Tenant, bucket: Any, moto_url: str
) -> None:
    body = upload(api, tenant)
    before = time.time()
    listed = api.get(f"/v1/jobs/{JobFile.objects.get(pk=body['id']).job_id}/files")
    item = listed.json()["data"][0]
    url = urlsplit(item["signed_url"])
    assert f"{url.scheme}://{url.netloc}" == moto_url
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["900"]
    assert "X-Amz-Signature" in query
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expires_at = datetime.fromisoformat(item["expires_at"].replace("Z", "+00:00"))
    assert (expires_at - signed_at).total_seconds() == 900
    assert before - 2 < expires_at.timestamp() - 900 <= time.time()

    downloaded = requests.get(item["signed_url"], timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.content == PDF_BYTES
    assert "attachment" in downloaded.headers["Content-Disposition"]


def test_deleting_removes_the_object(
    api: APIClient, tenant: Tenant, bucket: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = upload(api, tenant)
    job_file = JobFile.objects.get(pk=body["id"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/v1/jobs/{job_file.job_id}/files/{job_file.id}")
    assert response.status_code == 204
    assert bucket.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_quotas_hold_on_s3_and_there_is_no_disk_floor(
    api: APIClient, tenant: Tenant, bucket: Any, settings: Any
) -> None:
    # A floor no disk could meet: object storage has no disk, so it does not apply.
    settings.STORAGE_MIN_FREE_BYTES = 2**62
    tenant.storage_max_files = 1
    tenant.save()
    body = upload(api, tenant)
    job_file = JobFile.objects.get(pk=body["id"])
    refused = api.post(
        f"/v1/jobs/{job_file.job_id}/files",
        {"file": SimpleUploadedFile("more.pdf", PDF_BYTES, content_type="application/pdf")},
        format="multipart",
    )
    assert refused.status_code == 413
    assert refused.json()["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert bucket.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    assert api.get("/v1/usage").json()["storage"]["files"] == 1
