"""factory_boy factories for every model."""

from __future__ import annotations

from typing import Any

import factory
from django.core.files.base import ContentFile

from contacts.models import Contact
from files.models import FileKind, JobFile
from jobs.models import Job, JobStatus
from portal.models import Tenant

PDF_BYTES = b"%PDF-1.4\n% test document\n" + b"0" * 200 + b"\n%%EOF\n"


class TenantFactory(factory.django.DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Faker("name")
    email = factory.Faker("email")
    phone = "+1 555 0100"
    company = factory.Faker("company")


class JobFactory(factory.django.DjangoModelFactory[Job]):
    class Meta:
        model = Job

    tenant = factory.SubFactory(TenantFactory)
    # The contact always belongs to the job's tenant.
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    title = factory.Faker("sentence", nb_words=3)
    status = JobStatus.PENDING


class JobFileFactory(factory.django.DjangoModelFactory[JobFile]):
    class Meta:
        model = JobFile
        skip_postgeneration_save = True

    job = factory.SubFactory(JobFactory)
    tenant = factory.SelfAttribute("job.tenant")
    name = "report.pdf"
    content_type = "application/pdf"
    kind = FileKind.DOCUMENT
    size = len(PDF_BYTES)
    sha256 = "0" * 64

    @factory.post_generation  # type: ignore[untyped-decorator]
    def blob_content(obj: JobFile, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        data = extracted or PDF_BYTES
        obj.size = len(data)
        obj.blob.save(obj.name, ContentFile(data), save=create)
