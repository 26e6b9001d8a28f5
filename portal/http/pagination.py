"""The list envelope {data, total, limit, offset, has_more, next_cursor} shared by every list.

Two ways through a list:
- **offset** (`?offset=&limit=`), for the first pages and jumping; refused past MAX_OFFSET
  (a deep OFFSET costs the database every skipped row), pointing to the cursor;
- **cursor** (keyset pagination): every page carries `next_cursor`, an opaque token signed
  with the secret key (tamper-evident) that holds the sort values of the page's last row and
  the ordering and path it belongs to. `?cursor=` returns the rows strictly after that row in
  the same order, through an index range scan: the same cost at any depth, and stable under
  inserts (a row created meanwhile never shifts a page, nor is any row seen twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import F, Model, Q, QuerySet
from django.db.models.expressions import OrderBy
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from portal.fastpaths import prepared, shared_reads
from portal.formats import ascii_int
from portal.http.totals import cached_count

if TYPE_CHECKING:
    # Types only: rest_framework.views imports this module through api_settings.
    from rest_framework.views import APIView

# Past this, offsets are refused: deep pages use the cursor (same cost at any depth).
MAX_OFFSET = 10_000
CURSOR_SALT = "portal.http.pagination.cursor"
CURSOR_HINT = "use cursor (the next_cursor of the previous page) for deep pages"


def cursor_error(message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({"cursor": [message]})


def order_terms(queryset: QuerySet[Any]) -> list[tuple[str, bool]]:
    """The queryset's ordering as (field, descending) pairs; nulls always sort last (the
    ordering filter says so explicitly, so both databases agree)."""
    terms = []
    for term in queryset.query.order_by:
        if isinstance(term, OrderBy) and isinstance(term.expression, F):
            terms.append((str(term.expression.name), bool(term.descending)))
        elif isinstance(term, str):
            terms.append((term.lstrip("-"), term.startswith("-")))
        else:
            raise TypeError(f"Cannot paginate by cursor over {term!r}")
    return terms


def as_rows(queryset: QuerySet[Any], sources: list[str] | None) -> QuerySet[Any]:
    """The page as plain rows (`values()`) when the serializer renders from values alone
    (`portal.http.serializers.ModelSerializer.value_sources`): the same columns and order,
    without a model instance per row. The ordering's columns come too, for the next page's
    cursor."""
    if sources is None:
        return queryset
    names = list(dict.fromkeys([*sources, *(name for name, _ in order_terms(queryset))]))
    return queryset.values(*names)


def _value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _after(model: type[Model], terms: list[tuple[str, bool]], values: list[Any]) -> Q:
    """Rows strictly after `values` in this order (nulls last): the keyset condition."""
    condition = Q(pk__in=[])
    equal = Q()
    for (name, descending), value in zip(terms, values, strict=True):
        nullable = bool(getattr(_field(model, name), "null", False))
        if value is None:
            beyond = Q(pk__in=[])  # nothing sorts after a null (nulls last)
            same = Q(**{f"{name}__isnull": True})
        else:
            beyond = Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
            if nullable:
                beyond |= Q(**{f"{name}__isnull": True})
            same = Q(**{name: value})
        condition |= equal & beyond
        equal &= same
    # The same condition, led by a plain bound on the first sort field, which an index on the
    # ordering can seek to; PostgreSQL cannot seek on the OR alone.
    name, descending = terms[0]
    first = values[0]
    if first is None:
        bound = Q(**{f"{name}__isnull": True})
    else:
        bound = Q(**{f"{name}__{'lte' if descending else 'gte'}": first})
        if getattr(_field(model, name), "null", False):
            bound |= Q(**{f"{name}__isnull": True})
    return bound & condition


class EnvelopePagination(BasePagination):
    default_limit = 20
    max_limit = 100
    # What a list view takes on top of its filters and ordering.
    query_params = frozenset({"limit", "offset", "cursor"})

    def __init__(self) -> None:
        self.limit = self.default_limit
        self.offset: int | None = 0
        self.total = 0
        self.next_cursor: str | None = None

    def _parse(self, request: Request) -> tuple[int, int]:
        errors: list[dict[str, str]] = []
        limit, offset = self.default_limit, 0
        raw_limit = request.query_params.get("limit")
        if raw_limit is not None:
            parsed_limit = ascii_int(raw_limit, max_digits=10)
            if parsed_limit is None or not 1 <= parsed_limit <= self.max_limit:
                errors.append(
                    {
                        "field": "limit",
                        "message": f"Must be an integer between 1 and {self.max_limit}.",
                    }
                )
            else:
                limit = parsed_limit
        raw_offset = request.query_params.get("offset")
        if raw_offset is not None:
            parsed_offset = ascii_int(raw_offset, max_digits=10)
            if parsed_offset is None:
                errors.append(
                    {
                        "field": "offset",
                        "message": f"Must be an integer between 0 and {MAX_OFFSET}.",
                    }
                )
            elif parsed_offset > MAX_OFFSET:
                errors.append(
                    {
                        "field": "offset",
                        "message": f"Offsets past {MAX_OFFSET} are refused: {CURSOR_HINT}.",
                    }
                )
            else:
                offset = parsed_offset
        if errors:
            raise exceptions.ValidationError({e["field"]: [e["message"]] for e in errors})
        return limit, offset

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        self.limit, self.offset = self._parse(request)
        terms = order_terms(queryset)
        ordering = [f"{'-' if desc else ''}{name}" for name, desc in terms]
        raw_cursor = request.query_params.get("cursor")
        if raw_cursor is not None:
            if "offset" in request.query_params:
                raise cursor_error("Give cursor or offset, not both.")
            values = self._load_cursor(raw_cursor, request.path, ordering, queryset.model)
            self.offset = None
            after = queryset.filter(_after(queryset.model, terms, values))
            rows = prepared.page(after[: self.limit + 1])
            self.total = self._count(queryset, request)
        else:
            rows = prepared.page(queryset[self.offset : self.offset + self.limit + 1])
            if 0 < len(rows) <= self.limit or (not rows and self.offset == 0):
                # The last page (or an empty list) says its own total, exactly: no count.
                self.total = self.offset + len(rows)
            else:
                self.total = self._count(queryset, request)
        page, more = rows[: self.limit], len(rows) > self.limit
        self.has_more = more
        self.next_cursor = None
        if more and page:
            last = page[-1]
            values = [_value(last, name) for name, _ in terms]
            self.next_cursor = signing.dumps(
                {"p": request.path, "o": ordering, "k": [_dump(v) for v in values]},
                salt=CURSOR_SALT,
                compress=True,
            )
        return page

    @staticmethod
    def _count(queryset: QuerySet[Any], request: Request) -> int:
        tenant = getattr(request.user, "tenant", None)
        if tenant is None:
            return queryset.count()
        return cached_count(
            queryset,
            tenant_id=tenant.pk,
            path=request.path,
            params=dict(request.query_params.lists()),
            generations=shared_reads.values(),
        )

    @staticmethod
    def _load_cursor(raw: str, path: str, ordering: list[str], model: type[Model]) -> list[Any]:
        try:
            payload = signing.loads(raw, salt=CURSOR_SALT)
        except signing.BadSignature:
            raise cursor_error(
                "Not a cursor this API issued (it is opaque: pass next_cursor back unchanged)."
            ) from None
        if not isinstance(payload, dict) or payload.get("p") != path:
            raise cursor_error("This cursor belongs to another list.")
        if payload.get("o") != ordering:
            raise cursor_error(
                f"This cursor was issued for ordering={','.join(payload.get('o') or [])}; "
                "repeat that ordering, or start again without a cursor."
            )
        names = [term.lstrip("-") for term in ordering]
        try:
            return [
                None if value is None else _field(model, name).to_python(value)
                for name, value in zip(names, payload["k"], strict=True)
            ]
        except (KeyError, TypeError, ValueError, ValidationError):
            raise cursor_error("This cursor no longer matches the list.") from None

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "data": data,
                "total": self.total,
                "limit": self.limit,
                "offset": self.offset,
                "has_more": self.has_more,
                "next_cursor": self.next_cursor,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["data", "total", "limit", "offset", "has_more", "next_cursor"],
            "properties": {
                "data": schema,
                "total": {"type": "integer", "minimum": 0, "example": 1247},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_limit,
                    "example": self.default_limit,
                },
                "offset": {
                    "type": "integer",
                    "minimum": 0,
                    "nullable": True,
                    "example": 0,
                    "description": "The offset of this page; null when it was fetched by cursor.",
                },
                "has_more": {"type": "boolean", "example": True},
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "example": "eyJwIjoiL3YxL2NvbnRhY3RzIn0:1xWjUv:XhU5TmHdJYT0E96gCRt78dalL1K",
                    "description": "Pass as `cursor` for the page after this one (opaque, "
                    "signed); null on the last page.",
                },
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, 1 to {self.max_limit} (default {self.default_limit}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": f"Number of items to skip, at most {MAX_OFFSET}; for deeper "
                "pages use `cursor`.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The `next_cursor` of the previous page: the page after it, in "
                "the same ordering, at the same cost at any depth. Not with `offset`.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 2000},
            },
        ]


def _field(model: type[Model], name: str) -> Any:
    return model._meta.pk if name in {"id", "pk"} else model._meta.get_field(name)


def _dump(value: Any) -> Any:
    """A sort value as JSON (datetimes as ISO 8601, UUIDs as text)."""
    if value is None or isinstance(value, int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
