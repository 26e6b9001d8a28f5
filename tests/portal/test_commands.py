from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from contacts.models import Contact
from demo.data import PDF_SIZE, SEED_CONTACT_ID
from files.models import JobFile
from jobs.models import Job
from portal.models import ApiToken, Tenant

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_is_idempotent() -> None:
    assert "Created" in run("create_tenant", "acme", "--name", "Acme Corp")
    assert "Exists" in run("create_tenant", "acme")
    assert Tenant.objects.get().name == "Acme Corp"


def test_create_tenant_refuses_a_bad_slug() -> None:
    with pytest.raises(CommandError):
        run("create_tenant", "not a slug")


def test_create_token_prints_the_raw_token_alone_on_the_last_line() -> None:
    run("create_tenant", "acme")
    raw = run("create_token", "--tenant", "acme", "--name", "prod_token").splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/v1/contacts").status_code == 200
    token = ApiToken.objects.get()
    assert token.name == "prod_token"
    assert token.expires_at is None


def test_create_token_sets_an_expiry() -> None:
    run("create_tenant", "acme")
    run("create_token", "--tenant", "acme", "--name", "t", "--expires-in-days", "7")
    assert ApiToken.objects.get().expires_at is not None


@pytest.mark.parametrize(
    "args",
    [
        ("--tenant", "ghost", "--name", "t"),
        ("--tenant", "acme", "--name", "bad name"),
        ("--tenant", "acme", "--name", "t", "--expires-in-days", "0"),
    ],
)
def test_create_token_fails_clearly(args: tuple[str, ...]) -> None:
    run("create_tenant", "acme")
    with pytest.raises(CommandError):
        run("create_token", *args)
    assert ApiToken.objects.count() == 0


def test_seed_demo_creates_the_seeds_data_once(settings: object) -> None:
    output = run("seed_demo")
    run("seed_demo")
    assert "acme: 1247 contacts, 342 jobs, 1 files" in output
    acme = Tenant.objects.get(slug="acme")
    globex = Tenant.objects.get(slug="globex")
    assert Contact.objects.for_tenant(acme).count() == 1247
    assert Job.objects.for_tenant(acme).count() == 342
    assert Contact.objects.for_tenant(globex).exists()
    assert Contact.objects.get(pk=SEED_CONTACT_ID).tenant == acme
    document = JobFile.objects.get(pk="file_prod001")
    assert (document.job_id, document.name, document.size) == (
        "job_prod_test",
        "production_document.pdf",
        PDF_SIZE,
    )
    with document.blob.open("rb") as handle:
        data = handle.read()
    assert len(data) == PDF_SIZE
    assert data.startswith(b"%PDF-1.4")
    assert data.rstrip().endswith(b"%%EOF")
