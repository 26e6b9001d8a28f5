"""Tenancy in one place: the tenant-scoped queryset, model base and API base view."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Generic, TypeVar

from django.db import models
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from portal.errors import NotFoundError
from portal.fastpaths import prepared
from portal.models import Tenant
from portal.tenancy.auth import TenantPrincipal

M = TypeVar("M", bound=models.Model)


class TenantQuerySet(models.QuerySet[M], Generic[M]):
    def for_tenant(self, tenant: Tenant) -> TenantQuerySet[M]:
        return self.filter(tenant_id=tenant.pk)


class TenantOwnedModel(models.Model):
    """Base for every model a tenant owns: the `tenant` column. Each model declares its own
    manager, `objects = TenantQuerySet["Model"].as_manager()`, which `TenantAPIView` always
    reads through `for_tenant`. Every save or delete of one retires that tenant's cached list
    totals (`portal.http.totals.watch`, wired in `portal.apps`)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


def request_tenant(request: Request) -> Tenant:
    user: Any = request.user
    if not isinstance(user, TenantPrincipal):
        raise exceptions.NotAuthenticated()
    return user.tenant


class TenantAPIView(GenericAPIView):  # type: ignore[type-arg]
    """Base of every tenant-data endpoint.

    `get_queryset()` is the only way views reach tenant data, and it always applies
    `for_tenant`, so an object of another tenant behaves exactly like a missing one.
    """

    model: ClassVar[type[models.Model]]
    not_found_detail: ClassVar[str] = "Not found"
    # Ids of the wrong shape are answered like unknown ones (404), never with a 500.
    lookup_pattern: ClassVar[str | None] = None

    @property
    def tenant(self) -> Tenant:
        return request_tenant(self.request)

    def base_queryset(self) -> TenantQuerySet[Any]:
        manager: Any = self.model._default_manager
        return manager.all()  # type: ignore[no-any-return]

    def get_queryset(self) -> TenantQuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            # Schema generation introspects the model without a request or a tenant.
            return self.base_queryset().none()
        return self.base_queryset().for_tenant(self.tenant)

    def get_object_or_404(self, lookup: str, queryset: models.QuerySet[Any] | None = None) -> Any:
        if self.lookup_pattern is not None and not re.fullmatch(self.lookup_pattern, lookup):
            raise exceptions.NotFound(self.not_found_detail)
        if queryset is None and self._plain_queryset():
            # The tenant's row by primary key, compiled once (portal.fastpaths.prepared).
            row = prepared.tenant_row(self.model, self.tenant.pk, lookup)
        else:
            qs = self.get_queryset() if queryset is None else queryset
            # A primary key names one row at most: no ORDER BY (as first() adds), just LIMIT 1.
            row = next(iter(qs.filter(pk=lookup)[:1]), None)
        if row is None:
            raise exceptions.NotFound(self.not_found_detail)
        return row

    @classmethod
    def _plain_queryset(cls) -> bool:
        """Whether get_queryset() is the model's rows of the tenant, and nothing more."""
        return (
            cls.get_queryset is TenantAPIView.get_queryset
            and cls.base_queryset is TenantAPIView.base_queryset
        )


class TenantRelatedField(serializers.RelatedField):  # type: ignore[type-arg]
    """A foreign key in input, looked up only among the caller's tenant's objects.

    Another tenant's id is reported exactly like an unknown one.
    """

    default_error_messages = {
        "does_not_exist": "{label} not found.",
        "invalid": "Must be a valid {label} id.",
    }

    def __init__(self, *, model: type[models.Model], label: str, pattern: str, **kwargs: Any):
        self.model = model
        self.label_name = label
        self.pattern = pattern
        kwargs.setdefault("queryset", model._default_manager.none())
        super().__init__(**kwargs)

    def get_queryset(self) -> models.QuerySet[Any]:
        request = self.context["request"]
        manager: Any = self.model._default_manager
        return manager.for_tenant(request_tenant(request))  # type: ignore[no-any-return]

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not re.fullmatch(self.pattern, data):
            self.fail("invalid", label=self.label_name)
        obj = self.get_queryset().filter(pk=data).first()
        if obj is None:
            # A well-formed id of nothing the caller can see: answered like GET of that id.
            raise NotFoundError(f"{self.label_name} not found", field=self.field_name)
        return obj

    def to_representation(self, value: Any) -> Any:
        return str(value.pk)
