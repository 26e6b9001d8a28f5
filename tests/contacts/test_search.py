"""`?q=` on PostgreSQL asks the trigram index only for the pattern's rare trigrams and checks
the whole match on the rows it returns (contacts/selectors.py): the rows must be the plain
match's, for every pattern and every set of common trigrams."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.core.cache import caches
from django.db import DatabaseError, connection
from django.db.models import Q
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from contacts import selectors
from contacts.models import Contact
from portal.models import Tenant

pytestmark = pytest.mark.django_db
postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's"
)


def plain(tenant: Tenant, q: str) -> list[str]:
    """The match as it was: `icontains` on each field (an all-blank `q` lists everything)."""
    q = q.strip()
    match = (Q(name__icontains=q) | Q(email__icontains=q) | Q(company__icontains=q)) if q else Q()
    rows = Contact.objects.filter(tenant=tenant).filter(match)
    return sorted(str(pk) for pk in rows.values_list("pk", flat=True))


def searched(tenant: Tenant, q: str) -> list[str]:
    rows = selectors.contact_search(Contact.objects.filter(tenant=tenant), q)
    return sorted(str(pk) for pk in rows.values_list("pk", flat=True))


def test_trigrams_are_substrings_of_letter_and_digit_runs() -> None:
    assert selectors.trigrams("Contact12345@Bulk.io") == {
        "con", "ont", "nta", "tac", "act", "ct1", "t12", "123", "234", "345", "bul", "ulk",
    }  # fmt: skip
    assert selectors.trigrams("ab c_d é%") == set()
    for text in ["O'Brien-Smith", "josé_99x", "a%b_c\\d"]:
        assert all(t in text.lower() for t in selectors.trigrams(text))


# Few letters, so that trigrams repeat; LIKE's own characters, a space, non-ASCII letters whose
# case PostgreSQL and Python fold differently.
ALPHABET = "abcAB12%_\\ ßéİ."
VALUES = [
    "abcab12", "ABC 12.ab", "b%c_12", "cab\\12ß", "éabc12İ", "12 ab ca", "zzz", "", "ab_c%",
    "aBc1", "CAB12AB", "1212ab",
]  # fmt: skip


@postgresql
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    q=st.text(alphabet=ALPHABET, min_size=1, max_size=8),
    common=st.sets(st.sampled_from(sorted(selectors.trigrams(" ".join(VALUES)))), max_size=8),
)
@example(q="cab12", common={"cab"})  # the rewrite: rare "ab1", "b12" ask the index
@example(q="AbC1 b", common={"abc"})
def test_the_rows_are_the_plain_matchs_whatever_trigrams_are_common(
    q: str, common: set[str], tenant: Tenant, other_tenant: Tenant, monkeypatch: Any
) -> None:
    if not Contact.objects.exists():
        for owner in (tenant, other_tenant):
            Contact.objects.bulk_create(
                Contact(tenant=owner, name=v, email=w, company=c)
                for v, w, c in zip(
                    VALUES, VALUES[3:] + VALUES[:3], VALUES[7:] + VALUES[:7], strict=True
                )
            )
    monkeypatch.setattr(selectors, "common_trigrams", lambda using: frozenset(common))
    assert searched(tenant, q) == plain(tenant, q), (q, common)


def bulk_contacts(tenant: Tenant, count: int) -> None:
    Contact.objects.bulk_create(
        Contact(
            tenant=tenant, name=f"Contact {n}", email=f"contact{n}@bulk.example", company="Acme"
        )
        for n in range(count)
    )


@postgresql
def test_the_index_is_asked_only_for_the_rare_trigrams(tenant: Tenant) -> None:
    bulk_contacts(tenant, 1200)
    common = selectors.common_trigrams("default")
    assert {"con", "ont", "bul", "exa", "acm"} <= common
    assert not {"123", "234", "zzz"} & common
    rows = selectors.contact_search(Contact.objects.filter(tenant=tenant), "contact1123")
    sql, params = rows.query.sql_with_params()
    assert "STRPOS" in sql
    patterns = {p for p in params if isinstance(p, str) and p.startswith("%")}
    assert patterns
    assert not any(p.strip("%").lower() in common for p in patterns)
    assert searched(tenant, "contact1123") == plain(tenant, "contact1123")
    assert len(plain(tenant, "contact1123")) == 1


@postgresql
def test_a_small_table_is_searched_plainly(tenant: Tenant) -> None:
    bulk_contacts(tenant, selectors.MIN_SAMPLE - 1)
    assert selectors.common_trigrams("default") == frozenset()
    sql, _ = selectors.contact_search(Contact.objects.all(), "contact12").query.sql_with_params()
    assert "STRPOS" not in sql


@postgresql
def test_the_sample_is_taken_once_per_stats_period(
    tenant: Tenant, django_assert_num_queries: Any, monkeypatch: Any
) -> None:
    bulk_contacts(tenant, 600)
    with django_assert_num_queries(2):  # the row estimate, the sample
        first = selectors.common_trigrams("default")
    with django_assert_num_queries(0):
        assert selectors.common_trigrams("default") == first
    selectors.forget()  # another worker: the shared cache has it
    with django_assert_num_queries(0):
        assert selectors.common_trigrams("default") == first
    selectors.forget()
    clock = time.time() + selectors.STATS_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: clock)
    with django_assert_num_queries(2):  # stale everywhere: sampled again
        assert selectors.common_trigrams("default") == first


def test_a_failed_sample_leaves_the_search_plain(
    api: APIClient, tenant: Tenant, monkeypatch: Any, caplog: Any
) -> None:
    def broken(using: str) -> frozenset[str]:
        raise DatabaseError("canceling statement due to statement timeout")

    monkeypatch.setattr(selectors, "sample_common_trigrams", broken)
    bulk_contacts(tenant, 3)
    with caplog.at_level(logging.WARNING, logger="contacts.selectors"):
        assert selectors.common_trigrams("default") == frozenset()
    assert "searching plainly" in caplog.text
    assert caches["shared"].get(selectors.STATS_KEY) is None
    calls: list[str] = []

    def counted(using: str) -> frozenset[str]:
        calls.append(using)
        return frozenset()

    monkeypatch.setattr(selectors, "sample_common_trigrams", counted)
    assert selectors.common_trigrams("default") == frozenset()  # not again at once
    assert calls == []
    later = time.time() + selectors.RETRY_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    selectors.common_trigrams("default")
    assert calls == ["default"]  # tried again after RETRY_SECONDS, not an hour
    body = api.get("/v1/contacts", {"q": "contact1"}).json()
    assert [c["email"] for c in body["data"]] == ["contact1@bulk.example"]


def test_the_admin_searches_words_phrases_and_ids_the_same_way(tenant: Tenant) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    staff = Client()
    staff.force_login(User.objects.create_superuser("ops", "ops@example.com", "a-long-passphrase"))
    grace = Contact.objects.create(
        tenant=tenant, name="Grace Hopper", email="g@navy.mil", company="Navy"
    )
    Contact.objects.create(tenant=tenant, name="Alan Turing", email="a@gchq.uk", company="GCHQ")
    Contact.objects.create(tenant=tenant, name="Hopper Grace", email="h@x.uk", company="")

    def found(term: str) -> set[str]:
        response = staff.get("/admin/contacts/contact/", {"q": term})
        assert response.status_code == 200
        return {c.name for c in response.context["cl"].result_list}

    assert found("hopper") == {"Grace Hopper", "Hopper Grace"}
    assert found("navy GRACE") == {"Grace Hopper"}  # every word, in any field
    assert found('"grace hopper"') == {"Grace Hopper"}  # quotes keep a phrase
    assert found(str(grace.pk)) == {"Grace Hopper"}
    assert found(str(grace.pk).upper()) == {"Grace Hopper"}
    assert found("nobody") == set()
