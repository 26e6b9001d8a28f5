"""Probe tenants and tokens the rollout controller owns: gates never touch customers' data.

Two tenants (`rollout-probe-a`, `rollout-probe-b`) each hold a contact and a job with a small
file. Fresh, short-lived tokens are issued for every gate evaluation (the raw values exist only
in the controller's memory); `rollout-probe-b` has a low default rate limit so the rate-limit
gate can exceed it cheaply. Their requests are `probe` traffic in the metrics, never counted as
customers'. `rollout rehearse` has two tenants of its own (`rollout-rehearsal-a`, `-b`), whose
requests are `rehearsal` traffic, which no judgement reads, and whose tokens it revokes when it
is done (`revoke_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from contacts.models import Contact
from files.models import FileKind, JobFile
from jobs.models import Job
from portal.models import ApiToken, Tenant, Traffic
from portal.tenancy.services import tenant_ensure, token_create

PROBE_A, PROBE_B = "rollout-probe-a", "rollout-probe-b"
SLUGS = {
    Traffic.PROBE: (PROBE_A, PROBE_B),
    Traffic.REHEARSAL: ("rollout-rehearsal-a", "rollout-rehearsal-b"),
}
PROBE_RATE_LIMIT = "5/m"
# Tenant a carries the gates' probes and the top-up (ops/rollouts/topup.py): enough for both.
PROBE_TOPUP_LIMIT = "1000/m"
PROBE_FILE = b"%PDF-1.4\n% rollout probe file\n%%EOF\n"


@dataclass(frozen=True)
class ProbeTenant:
    slug: str
    token: str
    contact_id: str
    job_id: str


@dataclass(frozen=True)
class ProbeCredentials:
    a: ProbeTenant
    b: ProbeTenant
    rate_limited_token: str  # on tenant b, whose default group allows PROBE_RATE_LIMIT


def _fixture(slug: str, traffic: Traffic) -> tuple[Tenant, Contact, Job]:
    tenant, _ = tenant_ensure(slug=slug, name=f"Rollout {traffic} ({slug[-1]})")
    if tenant.traffic != traffic:
        tenant.traffic = traffic
        tenant.save(update_fields=["traffic"])
    contact, _ = Contact.objects.get_or_create(
        tenant=tenant, name="Rollout probe", defaults={"email": f"{slug}@probe.invalid"}
    )
    job = Job.objects.filter(tenant=tenant, title="Rollout probe job").first()
    if job is None:
        job = Job.objects.create(tenant=tenant, contact=contact, title="Rollout probe job")
    if not JobFile.objects.filter(job=job).exists():
        job_file = JobFile(
            tenant=tenant,
            job=job,
            name="probe.pdf",
            content_type="application/pdf",
            kind=FileKind.DOCUMENT,
            size=len(PROBE_FILE),
            sha256="0" * 64,
        )
        job_file.blob.save("probe.pdf", ContentFile(PROBE_FILE), save=False)
        job_file.save(force_insert=True)
    return tenant, contact, job


@transaction.atomic
def probe_credentials(traffic: Traffic = Traffic.PROBE) -> ProbeCredentials:
    """Fresh tokens of the controller's probe tenants (or, for `rollout rehearse`, of its
    rehearsal tenants), their fixtures made if missing."""
    slug_a, slug_b = SLUGS[traffic]
    tenants = []
    for slug in (slug_a, slug_b):
        tenant, contact, job = _fixture(slug, traffic)
        _, raw = token_create(tenant=tenant, name="rollout-probe", expires_in_days=1, rotate=True)
        tenants.append(ProbeTenant(slug, raw, str(contact.pk), job.pk))
    for slug, limit in ((slug_a, PROBE_TOPUP_LIMIT), (slug_b, PROBE_RATE_LIMIT)):
        Tenant.objects.filter(slug=slug).exclude(rate_limit_default=limit).update(
            rate_limit_default=limit
        )
    b = Tenant.objects.get(slug=slug_b)
    # A fresh token has a fresh window, so exceeding it never starves the other probes.
    _, limited = token_create(
        tenant=b, name="rollout-probe-ratelimit", expires_in_days=1, rotate=True
    )
    return ProbeCredentials(a=tenants[0], b=tenants[1], rate_limited_token=limited)


def revoke_tokens(traffic: Traffic) -> int:
    """Revokes every usable token of those tenants (a rehearsal's, once it is done)."""
    now = timezone.now()
    tokens = ApiToken.objects.usable(now).filter(tenant__slug__in=SLUGS[traffic])
    return tokens.update(revoked_at=now)
