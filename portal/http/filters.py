"""Filtering and ordering: strict filtersets, the filter backend, and `?ordering=`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import django_filters
from django.db.models import F, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters
from rest_framework.request import Request

from portal.fastpaths import cycles
from portal.fastpaths.drf import OneFormClass, SkipUnusedFilters

if TYPE_CHECKING:
    from rest_framework.views import APIView


class StrictFilterSet(OneFormClass, django_filters.FilterSet):
    """The API's filtersets. A filter given with an empty value (`?status=`, `?q=`) is refused
    rather than ignored, as every empty query parameter is, before any filtering
    (`APIPolicyMixin.check_query_params`)."""


class ReleasingFilterBackend(DjangoFilterBackend):
    """django-filter's backend, which lets go of the filterset once it has filtered
    (portal.fastpaths.cycles)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        try:
            if not filterset.is_valid() and self.raise_exception:
                raise django_filters.utils.translate_validation(filterset.errors)
            return filterset.qs
        finally:
            cycles.release_filterset(filterset)


class FilterBackend(SkipUnusedFilters, ReleasingFilterBackend):
    """The API's filter backend (no filterset is built for a request that names none of its
    parameters: portal.fastpaths.drf)."""


class StrictOrderingFilter(filters.OrderingFilter):
    """`?ordering=` as a comma-separated list of exact terms (`name` or `-name`, each at most
    once, at most one per allowed field); anything else is a 400. Ties are always broken by id."""

    ordering_param = "ordering"

    @staticmethod
    def terms(allowed: list[str]) -> list[str]:
        return [term for field in allowed for term in (field, f"-{field}")]

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> list[str]:
        allowed: list[str] = list(getattr(view, "ordering_fields", []))
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            ordering = list(getattr(view, "ordering", ["-created_at"]))
        else:
            ordering = raw.split(",")
            valid = set(self.terms(allowed))
            exact = all(term in valid for term in ordering)
            if not exact or len(set(ordering)) != len(ordering) or len(ordering) > len(allowed):
                raise exceptions.ValidationError(
                    {
                        "ordering": [
                            f"Unknown ordering; allowed: {', '.join(allowed)} (prefix - for "
                            "descending), comma-separated, each at most once."
                        ]
                    }
                )
        if not any(term.lstrip("-") in {"id", "pk"} for term in ordering):
            descending = ordering[0].startswith("-") if ordering else False
            ordering.append("-id" if descending else "id")
        return ordering

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> QuerySet[Any]:
        # Nulls last in both directions, spelled out, so PostgreSQL and SQLite agree (and the
        # cursor's keyset condition can rely on it).
        terms: list[Any] = []
        for term in self.get_ordering(request, queryset, view):
            name = term.lstrip("-")
            field = queryset.model._meta.pk if name in {"id", "pk"} else None
            field = field or queryset.model._meta.get_field(name)
            if getattr(field, "null", False):
                expression = F(name)
                terms.append(
                    expression.desc(nulls_last=True)
                    if term.startswith("-")
                    else expression.asc(nulls_last=True)
                )
            else:
                terms.append(term)
        return queryset.order_by(*terms)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        allowed: list[str] = list(getattr(view, "ordering_fields", []))
        return [
            {
                "name": self.ordering_param,
                "in": "query",
                "required": False,
                "description": "Comma-separated fields, `-` prefix for descending, each at most "
                f"once. Allowed: {', '.join(allowed)}. Ties are broken by id.",
                "style": "form",
                "explode": False,
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": self.terms(allowed)},
                    "uniqueItems": True,
                    "maxItems": len(allowed),
                },
            }
        ]
