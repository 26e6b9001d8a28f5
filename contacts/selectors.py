"""Reads of contacts.

`?q=` is a case-insensitive substring match on name, email and company. On PostgreSQL the
trigram GIN index (`contacts/migrations/0002`) serves it, but a GIN scan reads the whole posting
list of every trigram in the pattern, and a trigram that most rows hold (`con` when every email
starts `contact`, `com`, `gma`, `ail` in real address books) costs as much as the table has rows
(BENCHMARKS.md has the pages read for `q=contact12345` on a million contacts, before and after).
So the index is asked only for the pattern's *rare* trigrams (`t12`, `123`, …), and the full
match is checked on the few rows it returns, with `STRPOS`, which no index serves, so the
planner cannot fold the common trigrams back into the scan. Same rows, a small fraction of the
pages.

Which trigrams are common is read off a sample of the table (`SAMPLE_ROWS` rows, PostgreSQL's
`TABLESAMPLE SYSTEM`), kept in the shared cache for `STATS_SECONDS` and in each process: it
describes the whole index, every tenant at once, and only the trigrams themselves are kept.
Without a sample (SQLite, a small table, an error) the search is the plain match.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter

from django.core.cache import caches
from django.db import DatabaseError, connections
from django.db.models import Q, Value
from django.db.models.functions import StrIndex, Upper
from django.db.models.lookups import GreaterThan

from contacts.models import Contact
from portal.tenancy.scoping import TenantQuerySet

logger = logging.getLogger(__name__)

FIELDS = ("name", "email", "company")
# A trigram held by at least this share of the sampled rows is not asked of the index.
COMMON_SHARE = 0.05
SAMPLE_ROWS = 3000
# Below this many rows the table is small enough that no trigram costs much.
MIN_SAMPLE = 500
STATS_SECONDS = 3600
RETRY_SECONDS = 60  # after a failed sample
STATS_KEY = "search:contacts:common-trigrams:v1"

_WORD = re.compile(r"[A-Za-z0-9]+")
_stats: tuple[float, frozenset[str]] | None = None
_stats_lock = threading.Lock()


def trigrams(text: str) -> set[str]:
    """The lower-case trigrams inside runs of ASCII letters and digits: each is a substring of
    the text, so a row that holds the text holds every one of them."""
    return {word[i : i + 3] for word in _WORD.findall(text.lower()) for i in range(len(word) - 2)}


def sample_common_trigrams(using: str) -> frozenset[str]:
    """The trigrams that at least COMMON_SHARE of a sample of every tenant's contacts hold
    (in any of the searched fields); empty when the table is too small to matter."""
    table = connections[using].ops.quote_name(Contact._meta.db_table)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        (estimate,) = cursor.fetchone() or (-1.0,)
        # reltuples is -1 before the first VACUUM or ANALYZE: read the table's first rows.
        percent = 100.0 if estimate <= 0 else min(100.0, max(0.01, 100 * SAMPLE_ROWS / estimate))
        cursor.execute(
            # The table's name is the model's, quoted; the values are parameters.
            f"SELECT name, email, company FROM {table} TABLESAMPLE SYSTEM (%s) LIMIT %s",  # noqa: S608
            [percent, SAMPLE_ROWS],
        )
        rows = cursor.fetchall()
    if len(rows) < MIN_SAMPLE:
        return frozenset()
    held: Counter[str] = Counter()
    for row in rows:
        held.update(set().union(*(trigrams(value) for value in row if value)))
    return frozenset(t for t, n in held.items() if n >= COMMON_SHARE * len(rows))


def common_trigrams(using: str) -> frozenset[str]:
    """`sample_common_trigrams`, kept for STATS_SECONDS in this process and the shared cache.
    An error leaves the search plain, and the sample is tried again after RETRY_SECONDS."""
    global _stats
    now = time.time()
    with _stats_lock:
        if _stats is not None and now - _stats[0] < STATS_SECONDS:
            return _stats[1]
    shared = caches["shared"]
    kept = shared.get(STATS_KEY)
    if (
        isinstance(kept, list | tuple)
        and len(kept) == 2
        and 0 <= now - float(kept[0]) < STATS_SECONDS
    ):
        sampled_at, common = float(kept[0]), frozenset(kept[1])
    else:
        sampled_at = now
        try:
            common = sample_common_trigrams(using)
        except DatabaseError:
            logger.warning("Could not sample the contacts' trigrams; searching plainly")
            # Plain until the next try, RETRY_SECONDS from now rather than STATS_SECONDS.
            sampled_at, common = now - STATS_SECONDS + RETRY_SECONDS, frozenset()
        else:
            shared.set(STATS_KEY, (sampled_at, sorted(common)), STATS_SECONDS)
    with _stats_lock:
        _stats = (sampled_at, common)
    return common


def forget() -> None:
    """Drops this process's trigram sample (tests; the shared cache keeps its own)."""
    global _stats
    with _stats_lock:
        _stats = None


def contact_search(queryset: TenantQuerySet[Contact], q: str) -> TenantQuerySet[Contact]:
    """Case-insensitive match on name, email or company."""
    q = q.strip()
    if not q:
        return queryset
    plain = Q(name__icontains=q) | Q(email__icontains=q) | Q(company__icontains=q)
    if connections[queryset.db].vendor != "postgresql":
        return queryset.filter(plain)
    wanted = trigrams(q)
    rare = sorted(wanted - common_trigrams(queryset.db)) if wanted else []
    if not rare or len(rare) == len(wanted):
        return queryset.filter(plain)  # nothing to leave out of the index scan
    needle = Upper(Value(q))
    match = Q()
    for field in FIELDS:
        in_index = Q(*(Q(**{f"{field}__icontains": t}) for t in rare))
        match |= in_index & Q(GreaterThan(StrIndex(Upper(field), needle), 0))
    return queryset.filter(match)
