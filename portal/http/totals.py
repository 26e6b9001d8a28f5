"""List totals, counted once per tenant, filter and generation instead of on every request.

`COUNT(*)` of a tenant's list is the same for every request until something changes, and on
a million rows it costs more than the page itself. A total is kept in the shared cache for
LIST_COUNT_CACHE_SECONDS under the tenant's *generation* of that model. Every save or delete of
a tenant-owned row bumps the generation once its transaction commits, so a total read after a
write through the app is always exact; a change that bypasses model signals (raw SQL, a bulk
`update()`) is visible within the cache time.

A list's total costs no round trip of its own in the steady state: the token check reads the
tenant's generations in its own round trip (`portal.fastpaths.shared_reads`), and each process
keeps the totals it has seen under the generation they belong to, with the time they were
counted. A total is answered from the process only while the generation just read is the one it
was counted under, and for no longer than the cache time since it was counted (that time travels
with the total in the shared cache), so both promises above hold as they did with one read of
the shared cache per request.

A total is counted again before it expires: once it is REFRESH_AFTER of the cache time old,
the first request to claim the recount (an `add` in the shared cache) counts, and every other
request answers with the kept total until the new one is in. Under steady traffic a total
never expires, so no request waits behind every worker counting the same million rows at once.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save

from portal.resilience.cache import FailoverCache, fresh_generation

# The page's own parameters do not change the total.
PAGE_PARAMS = frozenset({"limit", "offset", "ordering", "cursor"})


# Totals this process has seen, by their shared key (which names the generation): (total,
# when it was counted, on the wall clock every worker shares).
_local: OrderedDict[str, tuple[int, float]] = OrderedDict()
_local_lock = threading.Lock()
LOCAL_TOTALS = 4096
# After this share of the cache time one request counts afresh while the others answer with
# the kept total, so the total never expires under traffic: when it did, every worker counted
# at once and every request behind them waited (on a million rows, once per cache time).
REFRESH_AFTER = 0.8
# The models whose totals are kept (every tenant-owned one, see `watch`).
_watched: list[type[Model]] = []


def _generation_key(model: type[Model], tenant_id: int) -> str:
    return f"count-gen:{model._meta.label_lower}:{tenant_id}"


def generation_keys(tenant_id: int) -> list[str]:
    """The shared-cache keys of this tenant's generations, one per kept model: read with the
    token check (`portal.tenancy.auth`), and passed back to `cached_count` as `generations`."""
    return [_generation_key(model, tenant_id) for model in _watched]


def cached_count(
    queryset: QuerySet[Any],
    *,
    tenant_id: int,
    path: str,
    params: dict[str, list[str]],
    generations: Mapping[str, Any] | None = None,
) -> int:
    """The total of `queryset` (the tenant's rows under the request's filters). `generations`
    are the tenant's generations as the shared cache held them during this request (keyed as
    `generation_keys` names them): with them, a total this process has seen answers with no
    round trip; without them, the generation and the total are read in one."""
    ttl = settings.LIST_COUNT_CACHE_SECONDS
    if not ttl:
        return queryset.count()
    cache: FailoverCache = caches["shared"]  # type: ignore[assignment]
    filters = sorted((k, v) for k, values in params.items() if k not in PAGE_PARAMS for v in values)
    digest = hashlib.sha256(repr((path, filters)).encode()).hexdigest()[:32]
    label = queryset.model._meta.label_lower
    generation_key = _generation_key(queryset.model, tenant_id)

    def key(generation: Any) -> str:
        # "total:" holds (total, counted at); the "count:" of earlier releases held the total
        # alone, and a release that reads one must never meet the other during a rollout.
        return f"total:{label}:{tenant_id}:{generation}:{digest}"

    now = time.time()
    refresh_at = ttl * REFRESH_AFTER
    verified = generations is not None and generation_key in generations
    if verified:
        generation = int((generations or {})[generation_key] or 0)
        with _local_lock:
            seen = _local.get(key(generation))
            if seen is not None and 0 <= now - seen[1] < refresh_at:
                _local.move_to_end(key(generation))
                return seen[0]
        kept = cache.get(key(generation))
    else:
        # The generation and the total kept under it: one round trip.
        generation, kept = cache.get_generational(generation_key, key)
    age = now - float(kept[1]) if isinstance(kept, list | tuple) and len(kept) == 2 else -1.0
    if 0 <= age < refresh_at or (
        # Due for a recount, still good: the one request that claims the recount counts, the
        # rest answer with the kept total meanwhile.
        0 <= age < ttl
        and not cache.add(f"recount:{key(generation)}", 1, max(1, math.ceil(ttl - refresh_at)))
    ):
        total, counted_at = int(kept[0]), float(kept[1])
    else:
        total, counted_at = queryset.count(), now
        cache.set(key(generation), (total, counted_at), ttl)
    if verified:
        # Only under a generation every worker shares: one read from this process's fallback
        # while Redis is down could name the same number for another state of the rows.
        with _local_lock:
            _local[key(generation)] = (total, counted_at)
            _local.move_to_end(key(generation))
            while len(_local) > LOCAL_TOTALS:
                _local.popitem(last=False)
    return total


def forget() -> None:
    """Drops the totals this process keeps (tests; the shared cache keeps its own)."""
    with _local_lock:
        _local.clear()


def count_changed(model: type[Model], tenant_id: int) -> None:
    """Retires every cached total of this tenant's rows of `model` (after commit)."""

    def bump() -> None:
        shared: FailoverCache = caches["shared"]  # type: ignore[assignment]
        shared.incr_or_start(_generation_key(model, tenant_id), fresh_generation())

    transaction.on_commit(bump)


def _tenant_row_changed(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    count_changed(sender, instance.tenant_id)  # type: ignore[attr-defined]


def watch(base: type[Model]) -> None:
    """Retires the cached totals of every model derived from `base` (the tenant-owned ones)
    whenever one of its rows is saved or deleted; called once the models are loaded."""
    for model in apps.get_models():
        if issubclass(model, base):
            if model not in _watched:
                _watched.append(model)
            post_save.connect(_tenant_row_changed, sender=model, dispatch_uid=f"totals:{model}")
            post_delete.connect(_tenant_row_changed, sender=model, dispatch_uid=f"totals-d:{model}")
