"""factory_boy factories for every model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import factory
from django.core.files.base import ContentFile
from django.utils import timezone

from contacts.models import Contact
from files.models import FileKind, JobFile
from jobs.models import Job, JobStatus
from ops.models import BUCKET_FIELDS, MetricRollup, RolloutPlan, SLObjective
from portal.models import Tenant
from portal.observability.metrics import BUCKETS_MS

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
    """A file with its bytes stored, inserted once (so the tenant's storage usage counts its
    real size); pass `data=` for other bytes."""

    class Meta:
        model = JobFile

    class Params:
        data = PDF_BYTES

    job = factory.SubFactory(JobFactory)
    tenant = factory.SelfAttribute("job.tenant")
    name = "report.pdf"
    content_type = "application/pdf"
    kind = FileKind.DOCUMENT
    size = factory.LazyAttribute(lambda o: len(o.data))
    sha256 = "0" * 64
    blob = factory.LazyAttribute(lambda o: ContentFile(o.data, name=o.name))


# --- ops ------------------------------------------------------------------------------------


class RolloutPlanFactory(factory.django.DjangoModelFactory[RolloutPlan]):
    """A plan whose first `phases` of `weights` are its phases, each baking `bake` seconds,
    guarded by `gates` ((kind, params) pairs) and running `phase_commands[order]`."""

    class Meta:
        model = RolloutPlan

    name = factory.Sequence(lambda n: f"test-plan-{n}")

    @classmethod
    def _create(
        cls,
        model_class: Any,
        *args: Any,
        phases: int = 4,
        weights: Sequence[int] | None = None,
        bake: int = 0,
        gates: Sequence[tuple[str, dict[str, Any]]] = (),
        phase_commands: dict[int, list[str]] | None = None,
        **kwargs: Any,
    ) -> RolloutPlan:
        plan: RolloutPlan = super()._create(model_class, *args, **kwargs)
        # By default the seed's weights, the last phase at 100 % (as `rollout lint` requires).
        weights = weights or (*(5, 25, 50)[: phases - 1], 100)
        for order, weight in enumerate(weights[:phases], start=1):
            phase = plan.phases.create(
                order=order,
                weight=weight,
                bake_seconds=bake,
                commands=(phase_commands or {}).get(order, []),
            )
            for position, (kind, params) in enumerate(gates):
                phase.gates.create(order=position, kind=kind, params=params)
        return plan


class MetricRollupFactory(factory.django.DjangoModelFactory[MetricRollup]):
    """One minute of one version's traffic on one endpoint, all in one latency bucket."""

    class Meta:
        model = MetricRollup

    at_ms = 25.0
    process = factory.Sequence(lambda n: f"test-process-{n}")
    minute = factory.LazyFunction(
        lambda: timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    )
    version = "1.0.0"
    endpoint = "/v*/contacts"
    method = "GET"
    status_class = "2xx"
    count = 10
    sum_ms = factory.LazyAttribute(lambda o: o.at_ms * o.count)

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> MetricRollup:
        at_ms = kwargs.pop("at_ms", 25.0)
        kwargs.setdefault(BUCKET_FIELDS[BUCKETS_MS.index(at_ms)], kwargs["count"])
        return super()._create(model_class, *args, **kwargs)  # type: ignore[no-any-return]


class SLObjectiveFactory(factory.django.DjangoModelFactory[SLObjective]):
    class Meta:
        model = SLObjective

    name = factory.Sequence(lambda n: f"Objective {n} (test)")
    endpoint = "/v*/contacts"
    kind = "latency"
    threshold_ms = 300
    target = 0.95
    window_seconds = 300
    min_samples = 20
