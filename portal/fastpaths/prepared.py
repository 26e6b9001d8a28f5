"""A tenant's row by primary key, and a list's page, with the SQL compiled once.

The ORM builds and compiles a QuerySet's SQL again every time one is evaluated. For the lookup
every detail request makes (one tenant's row by primary key, `LIMIT 1`), building and compiling
are a large share of the request's Python work (BENCHMARKS.md), though only the two values
ever change.

So the ORM compiles that query once per model and database connection, and each lookup runs
the same SQL with new values, prepared as the ORM prepares them (the fields' own
`get_db_prep_value`), and turns the row into an instance as `QuerySet` does: the backend's and
the fields' converters, then `Model.from_db`. Queries still go through the connection's cursor,
so query counting, database metrics and breakers see them as before.

A model whose compiled lookup does not take exactly those two values (a manager adding a filter
of its own, say) is looked up through the ORM every time instead.

`page()` does the same for a list's page (`portal.http.pagination`). Lists come in many shapes
(filters, search, orderings, cursors, limits), so the compiled SQL is kept per *shape*: the
model, the columns, the ordering, the limits, and the WHERE clause's own SQL, which is compiled
on every request (it is what holds the request's values) and is small beside the rest of the
statement (the select list, the ordering, the joins the names resolve to). A shape is used
only if its whole statement's parameters are exactly the WHERE clause's, in order; a queryset
with anything else (joins, annotations, extra, select_related, deferred fields, prefetches,
DISTINCT, FOR UPDATE, a set operation) is read through the ORM as before.
"""

from __future__ import annotations

import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import F, OrderBy
from django.db.models.query import ModelIterable, ValuesIterable

from portal.fastpaths import enabled

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Lookup:
    sql: str
    order: tuple[str, ...]  # which value each parameter is: "tenant" or "pk"
    tenant_field: models.Field[Any, Any]
    pk_field: models.Field[Any, Any]
    attnames: tuple[str, ...]
    # position in the row -> (converters, the column's expression), as the compiler gives them
    converters: dict[int, tuple[list[Any], Any]]


# Per connection object (each thread has its own): compiled lookups by model; None where the
# model's lookup has another shape.
_compiled: weakref.WeakKeyDictionary[BaseDatabaseWrapper, dict[type, _Lookup | None]] = (
    weakref.WeakKeyDictionary()
)


def _sample(field: models.Field[Any, Any]) -> Any:
    """A value of the field's type that no caller would look up."""
    if isinstance(field, models.UUIDField):
        return uuid.UUID(int=0x5A4D_91E)
    if isinstance(field, models.IntegerField | models.AutoField):
        return -2_000_000_001
    return "\x1fprepared-lookup-sample"


def _compile(model: type[models.Model], using: str) -> _Lookup | None:
    connection = connections[using]
    manager: Any = model._default_manager
    tenant_field = model._meta.get_field("tenant")
    pk_field = model._meta.pk
    if not isinstance(tenant_field, models.ForeignKey) or pk_field is None:
        return None
    tenant_sample, pk_sample = -2_000_000_003, _sample(pk_field)
    queryset = manager.using(using).filter(tenant_id=tenant_sample, pk=pk_sample)[:1]
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    # The compiled parameters must be exactly the two values, in an order the ORM chose.
    expected = {
        "tenant": tenant_field.get_db_prep_value(tenant_sample, connection, prepared=False),
        "pk": pk_field.get_db_prep_value(pk_sample, connection, prepared=False),
    }
    order: list[str] = []
    for param in params:
        names = [name for name, value in expected.items() if value == param and name not in order]
        if len(names) != 1:
            return None
        order.append(names[0])
    if len(order) != len(expected):
        return None
    columns = [expression for expression, _sql, _alias in compiler.select]
    if compiler.klass_info is None or any(
        getattr(column, "target", None) is None for column in columns
    ):
        return None
    return _Lookup(
        sql=sql,
        order=tuple(order),
        tenant_field=tenant_field,
        pk_field=pk_field,
        attnames=tuple(column.target.attname for column in columns),
        converters=compiler.get_converters(columns),
    )


def tenant_row(model: type[M], tenant_id: int, pk: Any) -> M | None:
    """`model.objects.filter(tenant_id=tenant_id, pk=pk).first()` without an ORDER BY, read
    from the database the router picks for reading `model`."""
    using = router.db_for_read(model)
    connection = connections[using]
    lookup = None
    if enabled("prepared"):
        lookups = _compiled.setdefault(connection, {})
        if model not in lookups:
            lookups[model] = _compile(model, using)
        lookup = lookups[model]
    if lookup is None:
        manager: Any = model._default_manager
        found = list(manager.using(using).filter(tenant_id=tenant_id, pk=pk)[:1])
        return found[0] if found else None
    prepared_values = {
        "tenant": lookup.tenant_field.get_db_prep_value(tenant_id, connection, prepared=False),
        "pk": lookup.pk_field.get_db_prep_value(pk, connection, prepared=False),
    }
    params = [prepared_values[name] for name in lookup.order]
    with connection.cursor() as cursor:
        cursor.execute(lookup.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if lookup.converters:
        values = list(row)
        for position, (converters, expression) in lookup.converters.items():
            value = values[position]
            for converter in converters:
                value = converter(value, expression, connection)
            values[position] = value
        row = values
    return model.from_db(using, lookup.attnames, row)


@dataclass(frozen=True)
class _Page:
    sql: str
    names: tuple[str, ...]  # the dict keys of a values() row; the attnames of a model's
    converters: dict[int, tuple[list[Any], Any]]


# Per connection object: compiled pages by shape (None: that shape goes through the ORM),
# the most recently used kept.
_pages: weakref.WeakKeyDictionary[
    BaseDatabaseWrapper, OrderedDict[tuple[Any, ...], _Page | None]
] = weakref.WeakKeyDictionary()
PAGE_SHAPES = 512


def _ordering(term: Any) -> Any:
    """A term of `order_by` as a plain, hashable value (None: one this cache does not know)."""
    if isinstance(term, str):
        return term
    if isinstance(term, OrderBy) and type(term.expression) is F:
        return (term.expression.name, term.descending, term.nulls_first, term.nulls_last)
    return None


def _shape(queryset: Any, where_sql: str) -> tuple[Any, ...] | None:
    query = queryset.query
    iterable = queryset._iterable_class
    if (
        iterable not in (ModelIterable, ValuesIterable)
        or query.annotations
        or query.extra
        or query.extra_tables
        or query.extra_order_by
        or query.combinator
        or query.group_by is not None
        or query.select_related
        or query.distinct
        or query.select_for_update
        or query.subquery
        or query.deferred_loading != (frozenset(), True)
        or sum(1 for alias in query.alias_map if query.alias_refcount[alias]) != 1
        or queryset._prefetch_related_lookups
        or queryset._known_related_objects
        or (iterable is ModelIterable and not query.default_cols)
    ):
        return None
    ordering = tuple(_ordering(term) for term in query.order_by)
    if None in ordering:
        return None
    return (
        queryset.model,
        iterable,
        query.default_cols,
        tuple(query.values_select),
        tuple(query.selected or ()),
        ordering,
        query.default_ordering,
        query.standard_ordering,
        query.low_mark,
        query.high_mark,
        tuple(alias for alias in query.alias_map if query.alias_refcount[alias]),
        where_sql,
    )


def _compile_page(queryset: models.QuerySet[Any], where_params: tuple[Any, ...]) -> _Page | None:
    query = queryset.query
    compiler = query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except (EmptyResultSet, FullResultSet):
        return None
    if tuple(params) != where_params:
        return None  # something besides the WHERE clause takes values: not this cache's
    columns = [expression for expression, _sql, _alias in compiler.select]
    if queryset._iterable_class is ValuesIterable:
        if query.selected:
            names = tuple(query.selected)
        else:
            names = (*query.extra_select, *query.values_select, *query.annotation_select)
        if len(names) != len(columns):
            return None
    else:
        info = compiler.klass_info
        if (
            info is None
            or info["model"] is not queryset.model
            or list(info["select_fields"]) != list(range(len(columns)))
            or compiler.annotation_col_map
            or any(getattr(column, "target", None) is None for column in columns)
        ):
            return None
        names = tuple(column.target.attname for column in columns)
    return _Page(sql=sql, names=names, converters=compiler.get_converters(columns))


def page(queryset: models.QuerySet[Any]) -> list[Any]:
    """`list(queryset)` for a list's page (a sliced queryset of one table, as model instances
    or `values()` dicts), with the statement compiled once per shape."""
    if not enabled("prepared") or queryset._result_cache is not None:
        return list(queryset)
    using = queryset.db
    connection = connections[using]
    query = queryset.query
    compiler = query.get_compiler(using=using)
    try:
        where_sql, where_params = compiler.compile(query.where)
    except (EmptyResultSet, FullResultSet):
        return list(queryset)
    shape = _shape(queryset, where_sql)
    if shape is None:
        return list(queryset)
    params = tuple(where_params)
    shapes = _pages.get(connection)
    if shapes is None:
        shapes = _pages[connection] = OrderedDict()
    if shape in shapes:
        shapes.move_to_end(shape)
        compiled = shapes[shape]
    else:
        compiled = shapes[shape] = _compile_page(queryset, params)
        while len(shapes) > PAGE_SHAPES:
            shapes.popitem(last=False)
    if compiled is None:
        return list(queryset)
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
    converters = list(compiled.converters.items())
    names = compiled.names
    if queryset._iterable_class is ValuesIterable:
        if not converters:
            return [dict(zip(names, row, strict=True)) for row in rows]
        return [
            dict(zip(names, _convert(row, converters, connection), strict=True)) for row in rows
        ]
    model: Any = queryset.model
    return [model.from_db(using, names, _convert(row, converters, connection)) for row in rows]


def _convert(row: Any, converters: list[tuple[int, tuple[list[Any], Any]]], connection: Any) -> Any:
    if not converters:
        return row
    values = list(row)
    for position, (functions, expression) in converters:
        value = values[position]
        for function in functions:
            value = function(value, expression, connection)
        values[position] = value
    return values
