"""List totals, counted once per tenant, filter and generation instead of on every request.

`COUNT(*)` of a tenant's list is the same for every request until something changes, and on
a million rows it costs more than the page itself. A total is kept in the shared cache for
LIST_COUNT_CACHE_SECONDS under the tenant's *generation* of that model. Every save or delete of
a tenant-owned row bumps the generation once its transaction commits, so a total read after a
write through the app is always exact; a change that bypasses model signals (raw SQL, a bulk
`update()`) is visible within the cache time.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save

from portal.cache import FailoverCache

# The page's own parameters do not change the total.
PAGE_PARAMS = frozenset({"limit", "offset", "ordering", "cursor"})


def _generation_key(model: type[Model], tenant_id: int) -> str:
    return f"count-gen:{model._meta.label_lower}:{tenant_id}"


def cached_count(
    queryset: QuerySet[Any], *, tenant_id: int, path: str, params: dict[str, list[str]]
) -> int:
    ttl = settings.LIST_COUNT_CACHE_SECONDS
    if not ttl:
        return queryset.count()
    cache: FailoverCache = caches["shared"]  # type: ignore[assignment]
    filters = sorted((k, v) for k, values in params.items() if k not in PAGE_PARAMS for v in values)
    digest = hashlib.sha256(repr((path, filters)).encode()).hexdigest()[:32]
    label = queryset.model._meta.label_lower

    def key(generation: Any) -> str:
        return f"count:{label}:{tenant_id}:{generation}:{digest}"

    # The tenant's generation of this model and the total kept under it: one round trip.
    generation, total = cache.get_generational(_generation_key(queryset.model, tenant_id), key)
    if total is None:
        total = queryset.count()
        cache.set(key(generation), total, ttl)
    return int(total)


def count_changed(model: type[Model], tenant_id: int) -> None:
    """Retires every cached total of this tenant's rows of `model` (after commit)."""

    def bump() -> None:
        shared: FailoverCache = caches["shared"]  # type: ignore[assignment]
        shared.incr_or_start(_generation_key(model, tenant_id))

    transaction.on_commit(bump)


def _tenant_row_changed(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    count_changed(sender, instance.tenant_id)  # type: ignore[attr-defined]


def watch(base: type[Model]) -> None:
    """Retires the cached totals of every model derived from `base` (the tenant-owned ones)
    whenever one of its rows is saved or deleted; called once the models are loaded."""
    for model in apps.get_models():
        if issubclass(model, base):
            post_save.connect(_tenant_row_changed, sender=model, dispatch_uid=f"totals:{model}")
            post_delete.connect(_tenant_row_changed, sender=model, dispatch_uid=f"totals-d:{model}")
