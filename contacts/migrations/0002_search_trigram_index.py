"""A trigram index for `?q=` on PostgreSQL: icontains on name, email or company is
`UPPER(col::text) LIKE UPPER('%q%')`, which no b-tree serves; on a tenant with a million
contacts it scanned every row (seconds) and now takes milliseconds. SQLite has no pg_trgm and
keeps scanning, which is fine at its sizes.

Built CONCURRENTLY (outside a transaction, without the statement timeout the app's
connections carry), so writes to contacts go on while it builds."""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEX = "contact_search_trgm"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("contacts", "Contact")._meta.db_table
    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:
        raise RuntimeError(
            "The contacts search index needs the pg_trgm extension. Create it once as a "
            "database superuser (CREATE EXTENSION pg_trgm;) and migrate again."
        ) from exc
    # A concurrent build that failed earlier leaves an invalid index behind: start over.
    schema_editor.execute(
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        f"WHERE c.relname = '{INDEX}' AND NOT i.indisvalid) THEN DROP INDEX {INDEX}; END IF; END $$"
    )
    schema_editor.execute("SET statement_timeout = 0")
    try:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {table} USING gin "
            "(UPPER(name::text) gin_trgm_ops, UPPER(email::text) gin_trgm_ops, "
            "UPPER(company::text) gin_trgm_ops)"
        )
    finally:
        schema_editor.execute("RESET statement_timeout")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction
    dependencies = [("contacts", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
