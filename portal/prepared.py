"""A tenant's row by primary key, with the SQL compiled once.

The ORM builds and compiles a QuerySet's SQL again every time one is evaluated. For the lookup
every detail request makes (one tenant's row by primary key, `LIMIT 1`), building and compiling
were about a third of the request's Python calls (3,017 of them, 2,055 without), though only
the two values ever change.

So the ORM compiles that query once per model and database connection, and each lookup runs
the same SQL with new values, prepared as the ORM prepares them (the fields' own
`get_db_prep_value`), and turns the row into an instance as `QuerySet` does: the backend's and
the fields' converters, then `Model.from_db`. Queries still go through the connection's cursor,
so query counting, database metrics and breakers see them as before.

A model whose compiled lookup does not take exactly those two values (a manager adding a filter
of its own, say) is looked up through the ORM every time instead.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

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
