"""Deterministic demo data: the tenant `acme` and a second tenant `globex`."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile
from django.db import transaction

from contacts.models import Contact
from files.content_types import ACCEPTED
from files.models import JobFile
from jobs.models import Job, JobStatus
from portal.models import Tenant
from portal.tenancy.services import tenant_ensure

# The Postman collection's tenancy check reads this contact with another tenant's token
# and expects 404.
SEED_CONTACT_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
NAMESPACE = uuid.UUID("6f1c1f3e-2d0b-4c57-9a43-5c2f0d1e7a10")
BASE_TIME = datetime(2025, 9, 1, 10, 15, tzinfo=UTC)

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Radia",
    "Tim",
    "Katherine",
    "Linus",
    "Sophie",
    "Guido",
    "Hedy",
    "Dennis",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "Torvalds",
    "Wilson",
]
COMPANIES = [
    "Acme Corp",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay Industries",
    "Stark Works",
    "Wayne Enterprises",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
]
TASKS = [
    "Install",
    "Inspect",
    "Repair",
    "Replace",
    "Service",
    "Survey",
    "Quote for",
    "Clean",
]
THINGS = [
    "boiler",
    "roof",
    "solar array",
    "heat pump",
    "wiring",
    "windows",
    "HVAC",
    "plumbing",
]
STATUSES = [
    JobStatus.PENDING,
    JobStatus.SCHEDULED,
    JobStatus.IN_PROGRESS,
    JobStatus.COMPLETED,
    JobStatus.CANCELLED,
]

PDF_SIZE = 2457600


@dataclass(frozen=True)
class DemoSpec:
    slug: str
    name: str
    contacts: int
    jobs: int
    job_id: str
    file_id: str
    file_name: str


ACME = DemoSpec(
    "acme",
    "Acme Corporation",
    1247,
    342,
    "job_prod_test",
    "file_prod001",
    "production_document.pdf",
)
GLOBEX = DemoSpec(
    "globex",
    "Globex Corporation",
    48,
    17,
    "job_globex_test",
    "file_globex001",
    "globex_plan.pdf",
)


def make_pdf(size: int, title: str) -> bytes:
    """A valid one-page PDF padded (with an unreferenced stream object) to exactly `size`."""

    def build(pad: int) -> bytes:
        text = f"BT /F1 24 Tf 72 720 Td ({title}) Tj ET".encode()
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length %d >>\nstream\n" % pad + b"0" * pad + b"\nendstream",
        ]
        out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        offsets = []
        for number, body in enumerate(objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1,
            xref,
        )
        return out

    pad = max(0, size - len(build(0)))
    for _ in range(10):
        document = build(pad)
        if len(document) == size:
            return document
        pad += size - len(document)
    raise ValueError(f"cannot build a PDF of exactly {size} bytes")


def _contacts(tenant: Tenant, spec: DemoSpec) -> list[Contact]:
    contacts = []
    for i in range(spec.contacts):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        company = COMPANIES[i % len(COMPANIES)]
        cid = (
            SEED_CONTACT_ID
            if (spec is ACME and i == 0)
            else uuid.uuid5(NAMESPACE, f"{spec.slug}-contact-{i}")
        )
        contacts.append(
            Contact(
                id=cid,
                tenant=tenant,
                name=f"{first} {last}",
                email=f"{first}.{last}.{i}@{spec.slug}.example.com".lower().replace(" ", ""),
                phone=f"+1 555 {i // 10000:03d} {i % 10000:04d}",
                company=company,
            )
        )
    return contacts


def _jobs(tenant: Tenant, spec: DemoSpec, contacts: list[Contact]) -> list[Job]:
    jobs = []
    for i in range(spec.jobs):
        status = STATUSES[i % len(STATUSES)]
        job_id = spec.job_id if i == 0 else f"job_{spec.slug}_{i:04d}"
        scheduled = BASE_TIME + timedelta(days=i % 60, hours=i % 9)
        jobs.append(
            Job(
                id=job_id,
                tenant=tenant,
                title=f"{TASKS[i % len(TASKS)]} {THINGS[i % len(THINGS)]}",
                status=JobStatus.IN_PROGRESS if i == 0 else status,
                contact=contacts[i % len(contacts)],
                scheduled_for=scheduled if status != JobStatus.PENDING else None,
            )
        )
    return jobs


def seed_tenant(spec: DemoSpec) -> Tenant:
    """Creates what is missing of a demo tenant; running it again changes nothing."""
    with transaction.atomic():
        tenant, _ = tenant_ensure(slug=spec.slug, name=spec.name)
        contacts = _contacts(tenant, spec)
        Contact.objects.bulk_create(contacts, batch_size=500, ignore_conflicts=True)
        Job.objects.bulk_create(
            _jobs(tenant, spec, contacts), batch_size=500, ignore_conflicts=True
        )
    if not JobFile.objects.filter(pk=spec.file_id).exists():
        job = Job.objects.get(pk=spec.job_id)
        size = PDF_SIZE if spec is ACME else 48_000
        job_file = JobFile(
            id=spec.file_id,
            tenant=tenant,
            job=job,
            name=spec.file_name,
            content_type="application/pdf",
            kind=ACCEPTED["application/pdf"].kind,
            size=size,
        )
        data = make_pdf(size, f"{spec.name}: {spec.file_name}")
        job_file.sha256 = hashlib.sha256(data).hexdigest()
        job_file.blob.save(spec.file_name, ContentFile(data), save=False)
        with transaction.atomic():  # the row and the tenant's storage usage together
            job_file.save(force_insert=True)
    return tenant


def seed_demo() -> list[Tenant]:
    return [seed_tenant(ACME), seed_tenant(GLOBEX)]
