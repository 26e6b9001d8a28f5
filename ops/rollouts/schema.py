"""The migration gate's engine: what a release does to the shared database, judged against the
code that will keep running on it.

Canary and stable share one database, and a release's migrations run before its first phase,
so from then on (and after any rollback) the **stable** code runs on the **new** schema. This
module answers, with the release's own code (`rollout record-release`, run from the release's
image before its migrations):

- which migrations the release applies on top of the database (what stable runs);
- each one's SQL, as `sqlmigrate` would print it for this database;
- the findings: django-migration-linter's backward-incompatible operations, refined with the
  model state stable runs (dropping a column stable no longer has is the *contract* step of
  expand/migrate/contract, and safe), plus this project's lock-safety rules for PostgreSQL
  (indexes built CONCURRENTLY on existing tables, constraints added NOT VALID). DDL always
  runs with `lock_timeout` and `statement_timeout` (portal/db/postgresql/schema.py).

The result is stored on the release (`Release.migrations`); the rollout's `migrations_safe`
gate reads it, checks the migrations are applied, and runs stable's contract smoke against the
migrated database (`stable_smoke`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import requests
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations import Migration
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.utils import timezone
from django_migration_linter.sql_analyser.analyser import (
    analyse_sql_statements,
    get_sql_analyser_class,
)

from ops.models import Gate, Release, Rollout, RolloutEvent
from portal.formats import rfc3339

ERROR, WARNING = "error", "warning"
# The gate kind a plan names to have its rollouts' migrations judged before traffic moves, and
# the result kind of stable's contract smoke on the migrated database.
GATE = "migrations_safe"
SMOKE = "stable_on_new_schema"
RISK_ACCEPTED = "migration_risk_accepted"
VERIFIED_AFTER_ROLLBACK = "schema_verified"


def gated(rollout: Rollout) -> bool:
    """Whether the rollout's plan asks for the migration gate."""
    return Gate.objects.filter(phase__plan_id=rollout.plan_id, kind=GATE).exists()


def accepted_risk(rollout: Rollout) -> str:
    """The reason a person gave for accepting the release's migration risk, if one did."""
    event = (
        RolloutEvent.objects.filter(rollout=rollout, action=RISK_ACCEPTED)
        .order_by("-at", "-id")
        .first()
    )
    return event.reason if event else ""


SQL_KEPT = 40  # statements kept per migration in the record
_IDENT = r'"?([A-Za-z0-9_]+)"?'


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # error: the gate refuses; warning: reported only
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class MigrationReview:
    key: str  # "app.name"
    atomic: bool
    sql: list[str]
    findings: list[Finding]

    @property
    def safe(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.key,
            "atomic": self.atomic,
            "sql": self.sql[:SQL_KEPT],
            "findings": [f.as_dict() for f in self.findings],
        }


def _key(node: tuple[str, str]) -> str:
    return f"{node[0]}.{node[1]}"


def applied_migrations(alias: str = DEFAULT_DB_ALIAS) -> set[str]:
    """The migrations the database has applied, as "app.name"."""
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return set()
    return {_key(node) for node in recorder.applied_migrations()}


def applied_digest(applied: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(applied)).encode()).hexdigest()[:16]


# --- Columns and tables the stable code knows -----------------------------------------------


class StableSchema:
    """The tables and columns of the model state stable runs: what its code reads and writes."""

    def __init__(self, state: ProjectState) -> None:
        self.columns: dict[str, dict[str, Any]] = {}
        for model_state in state.models.values():
            table = model_state.options.get("db_table") or (
                f"{model_state.app_label}_{model_state.name_lower}"
            )
            columns = self.columns.setdefault(table, {})
            for name, field in model_state.fields.items():
                column = getattr(field, "db_column", None) or (
                    f"{name}_id" if getattr(field, "many_to_one", False) else name
                )
                if not getattr(field, "many_to_many", False):
                    columns[column] = field

    def has_table(self, table: str) -> bool:
        return table in self.columns

    def has_column(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, {})

    def max_length(self, table: str, column: str) -> int | None:
        return getattr(self.columns.get(table, {}).get(column), "max_length", None)


# --- The rules -------------------------------------------------------------------------------

_DROP_COLUMN = re.compile(rf"ALTER TABLE {_IDENT} DROP COLUMN (?:IF EXISTS )?{_IDENT}", re.I)
_DROP_TABLE = re.compile(rf"DROP TABLE (?:IF EXISTS )?{_IDENT}", re.I)
_RENAME_COLUMN = re.compile(rf"ALTER TABLE {_IDENT} RENAME COLUMN {_IDENT} TO {_IDENT}", re.I)
_RENAME_TABLE = re.compile(rf"ALTER TABLE {_IDENT} RENAME TO {_IDENT}", re.I)
_CREATE_INDEX = re.compile(
    rf"CREATE (?:UNIQUE )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?{_IDENT} ON {_IDENT}", re.I
)
_ADD_CONSTRAINT = re.compile(
    rf"ALTER TABLE {_IDENT} ADD CONSTRAINT {_IDENT} (FOREIGN KEY|CHECK)", re.I
)
_ADD_REFERENCE = re.compile(rf"ALTER TABLE {_IDENT} ADD COLUMN .* REFERENCES ", re.I | re.S)
_ALTER_TYPE = re.compile(rf"ALTER TABLE {_IDENT} ALTER COLUMN {_IDENT} TYPE", re.I)
_TABLE = re.compile(
    rf"(?:ALTER TABLE|CREATE TABLE|DROP TABLE|INSERT INTO|UPDATE| ON) {_IDENT}", re.I
)
_WIDEN = re.compile(rf"ALTER TABLE {_IDENT} ALTER COLUMN {_IDENT} TYPE varchar\(([0-9]+)\)", re.I)


def _lock_rules(sql: list[str], stable: StableSchema, vendor: str) -> list[Finding]:
    """This project's rules for PostgreSQL: nothing that takes a long write-blocking lock on a
    table stable already uses."""
    if vendor != "postgresql":
        return []
    findings = []
    for statement in sql:
        index = _CREATE_INDEX.search(statement)
        if index and not index.group(1) and stable.has_table(index.group(3)):
            findings.append(
                Finding(
                    "INDEX_NOT_CONCURRENT",
                    ERROR,
                    f"CREATE INDEX {index.group(2)} on {index.group(3)} blocks its writes for "
                    "the whole build: use AddIndexConcurrently in a non-atomic migration",
                )
            )
        inline = _ADD_REFERENCE.search(statement)
        if inline and stable.has_table(inline.group(1)) and "NOT VALID" not in statement.upper():
            findings.append(
                Finding(
                    "CONSTRAINT_NOT_VALID",
                    ERROR,
                    f"a foreign key column on {inline.group(1)} is checked against every row "
                    "under lock: add the column, then AddConstraintNotValid and "
                    "ValidateConstraint",
                )
            )
        constraint = _ADD_CONSTRAINT.search(statement)
        if (
            constraint
            and stable.has_table(constraint.group(1))
            and "NOT VALID" not in statement.upper()
        ):
            findings.append(
                Finding(
                    "CONSTRAINT_NOT_VALID",
                    ERROR,
                    f"{constraint.group(3).upper()} constraint {constraint.group(2)} on "
                    f"{constraint.group(1)} scans the table under lock: add it with "
                    "AddConstraintNotValid, then ValidateConstraint in a later migration",
                )
            )
    return findings


def _refined(issue_code: str, message: str, sql: list[str], stable: StableSchema) -> list[Finding]:
    """The linter's finding, judged against what stable's code knows."""
    if issue_code == "DROP_COLUMN":
        found = []
        for statement in sql:
            for table, column in _DROP_COLUMN.findall(statement):
                if stable.has_column(table, column):
                    found.append(
                        Finding(
                            "DROP_COLUMN",
                            ERROR,
                            f"drops {table}.{column}, which the stable code still reads and "
                            "writes: remove it from the models in one release, drop it in "
                            "the next",
                        )
                    )
                else:
                    found.append(
                        Finding(
                            "DROP_COLUMN",
                            WARNING,
                            f"drops {table}.{column}; stable no longer has it (the contract step)",
                        )
                    )
        return found or [Finding(issue_code, ERROR, message)]
    if issue_code == "DROP_TABLE":
        tables = [t for statement in sql for t in _DROP_TABLE.findall(statement)]
        known = [t for t in tables if stable.has_table(t)]
        if tables and not known:
            return [Finding("DROP_TABLE", WARNING, f"drops {', '.join(tables)}; stable has none")]
        return [
            Finding(
                "DROP_TABLE",
                ERROR,
                f"drops {', '.join(known or tables)}, which the stable code still uses",
            )
        ]
    if issue_code in {"RENAME_COLUMN", "RENAME_TABLE"}:
        what = "column" if issue_code == "RENAME_COLUMN" else "table"
        return [
            Finding(
                issue_code,
                ERROR,
                f"renames a {what} the stable code uses by its old name: add the new {what}, "
                "write both, move reads, then drop the old one (expand, migrate, contract)",
            )
        ]
    if issue_code == "NOT_NULL":
        return [
            Finding(
                "NOT_NULL",
                ERROR,
                "a NOT NULL column without a database default: the stable code's inserts leave "
                "it out and fail. Give it db_default, or add it nullable and backfill",
            )
        ]
    if issue_code == "ALTER_COLUMN":
        widened = []
        for statement in sql:
            for table, column, length in _WIDEN.findall(statement):
                before = stable.max_length(table, column)
                if before is not None and before <= int(length):
                    widened.append(f"{table}.{column} ({before} → {length})")
        if widened and not any(_ALTER_TYPE.search(s) and not _WIDEN.search(s) for s in sql):
            return [
                Finding(
                    "ALTER_COLUMN",
                    WARNING,
                    f"widens {', '.join(widened)}: metadata only on PostgreSQL, no rewrite",
                )
            ]
        return [
            Finding(
                "ALTER_COLUMN",
                ERROR,
                "changes a column's type: PostgreSQL rewrites the table under an exclusive "
                "lock, and the stable code may write values the new type refuses",
            )
        ]
    if issue_code == "ADD_UNIQUE":
        return [
            Finding(
                "ADD_UNIQUE",
                ERROR,
                "adds a unique constraint to an existing table: it locks the table while it "
                "checks, and the stable code may still write duplicates",
            )
        ]
    return [Finding(issue_code, ERROR, message)]


def review(
    migration: Migration, state: ProjectState, stable: StableSchema, alias: str = DEFAULT_DB_ALIAS
) -> tuple[MigrationReview, ProjectState]:
    """One migration's SQL and findings, from the model state before it; returns the state
    after it too."""
    connection = connections[alias]
    with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
        after = migration.apply(state.clone(), editor, collect_sql=True)
    sql = [s.strip() for s in editor.collected_sql if s.strip() and not s.startswith("--")]
    errors, _ignored, warnings = analyse_sql_statements(
        get_sql_analyser_class(connection.vendor), sql
    )
    findings: list[Finding] = []
    touched = {table for statement in sql for table in _TABLE.findall(statement)}
    if errors and touched and not any(stable.has_table(table) for table in touched):
        # Only tables this release creates: no stable code reads or writes them.
        findings += [
            Finding(issue.code, WARNING, f"{issue.message}, on a table stable does not have")
            for issue in errors
        ]
        errors = []
    for issue in errors:
        findings += _refined(issue.code, issue.message, sql, stable)
    for issue in warnings:
        if issue.code in {"CREATE_INDEX", "CREATE_INDEX_EXCLUSIVE"}:
            continue  # judged by INDEX_NOT_CONCURRENT, which knows which tables stable uses
        findings.append(Finding(issue.code, WARNING, issue.message))
    findings += _lock_rules(sql, stable, connection.vendor)
    unique = list(dict.fromkeys(findings))
    key = f"{migration.app_label}.{migration.name}"
    return MigrationReview(key, migration.atomic, sql, unique), after


def pending_review(alias: str = DEFAULT_DB_ALIAS) -> tuple[list[str], list[MigrationReview]]:
    """(every migration this code has, the reviews of those the database has not applied, in
    the order `migrate` would apply them)."""
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    applied = {node for node in executor.loader.applied_migrations if node in graph.nodes}
    applied_leaves = [
        node
        for node in applied
        if not any(child.key in applied for child in graph.node_map[node].children)
    ]
    state = (
        executor.loader.project_state(nodes=applied_leaves, at_end=True)
        if applied_leaves
        else ProjectState(real_apps=executor.loader.unmigrated_apps)
    )
    stable = StableSchema(state)
    reviews = []
    for migration, backwards in executor.migration_plan(graph.leaf_nodes()):
        if backwards:
            continue
        result, state = review(migration, state, stable, alias)
        reviews.append(result)
    return sorted(_key(node) for node in graph.nodes), reviews


def record_release(version: str, *, image: str = "", alias: str = DEFAULT_DB_ALIAS) -> Release:
    """Records, from this code, the release's migration state and the gate's findings."""
    code, reviews = pending_review(alias)
    applied = applied_migrations(alias)
    record = {
        "recorded_at": rfc3339(timezone.now()),
        "vendor": connections[alias].vendor,
        "code": code,
        # What the database had when this was recorded: stable's migrations.
        "applied_before": applied_digest(applied),
        "new": [item.as_dict() for item in reviews],
        "safe": all(item.safe for item in reviews),
    }
    release, created = Release.objects.get_or_create(
        version=version, defaults={"image": image, "migrations": record}
    )
    if not created:
        release.migrations = record
        if image:
            release.image = image
        release.save(update_fields=["migrations", "image"])
    return release


# --- The gate's checks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the record says about a release's migrations, now."""

    ok: bool
    summary: str
    details: list[str]
    new: list[str]
    unapplied: list[str]
    recorded: bool


def verdict(release: Release, alias: str = DEFAULT_DB_ALIAS) -> Verdict:
    record = release.migrations
    if not record:
        return Verdict(
            False,
            f"release {release.version} has no recorded migration state: run `manage.py "
            "rollout record-release VERSION` from its image (before its migrations)",
            [],
            [],
            [],
            recorded=False,
        )
    new = [item["migration"] for item in record.get("new", [])]
    applied = applied_migrations(alias)
    unapplied = [key for key in new if key not in applied]
    before = applied - set(new)
    details = []
    for item in record.get("new", []):
        for finding in item["findings"]:
            details.append(
                f"{item['migration']}: {finding['severity']} {finding['code']}: "
                f"{finding['message']}"
            )
    errors = [d for d in details if ": error " in d]
    if new and applied_digest(before) != record.get("applied_before") and unapplied == new:
        return Verdict(
            False,
            "the database changed since the release was recorded (another release migrated): "
            "record it again",
            details,
            new,
            unapplied,
            recorded=True,
        )
    if errors:
        summary = f"{len(errors)} unsafe change(s) in {len(new)} new migration(s)"
    elif new:
        summary = f"{len(new)} new migration(s), each safe for the stable code"
    else:
        summary = "no new migrations"
    return Verdict(not errors, summary, details, new, unapplied, recorded=True)


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    observed: str
    steps: list[tuple[str, int | str]]


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def stable_smoke(
    base_url: str,
    token: str,
    *,
    timeout: float = 5.0,
    session: requests.Session | None = None,
) -> SmokeResult:
    """The stable version's contract probes on the database as it is now: health, then list,
    create, detail, patch and delete of a contact, a job and a job file. Whatever it creates
    it deletes again."""
    http = session or requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    steps: list[tuple[str, int | str]] = []
    tag = f"schema-smoke-{int(time.time() * 1000)}"

    def call(label: str, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        try:
            response = http.request(
                method, f"{base_url}{path}", headers=headers, timeout=timeout, **kwargs
            )
        except requests.RequestException as exc:
            steps.append((label, type(exc).__name__))
            return None
        steps.append((label, response.status_code))
        if response.status_code != expect:
            return None
        return response.json() if response.content else {}

    call("GET /v1/health", "GET", "/v1/health", 200)
    call("GET /v1/contacts", "GET", "/v1/contacts?limit=1", 200)
    contact = call(
        "POST /v1/contacts",
        "POST",
        "/v1/contacts",
        201,
        json={"name": tag, "email": f"{tag}@probe.invalid", "company": "Schema smoke"},
    )
    if contact:
        cid = contact["id"]
        call("GET /v1/contacts/{id}", "GET", f"/v1/contacts/{cid}", 200)
        call(
            "PATCH /v1/contacts/{id}", "PATCH", f"/v1/contacts/{cid}", 200, json={"name": f"{tag}!"}
        )
        call("GET /v1/jobs", "GET", "/v1/jobs?limit=1", 200)
        job = call("POST /v1/jobs", "POST", "/v1/jobs", 201, json={"title": tag, "contact_id": cid})
        if job:
            jid = job["id"]
            call("GET /v1/jobs/{id}", "GET", f"/v1/jobs/{jid}", 200)
            call("PATCH /v1/jobs/{id}", "PATCH", f"/v1/jobs/{jid}", 200, json={"title": f"{tag}!"})
            files = f"/v1/jobs/{jid}/files"
            upload = call(
                "POST …/files",
                "POST",
                files,
                201,
                files={"file": ("smoke.pdf", PDF, "application/pdf")},
            )
            call("GET …/files", "GET", f"{files}?limit=1", 200)
            if upload:
                call("GET …/files/{id}", "GET", f"{files}/{upload['id']}", 200)
                call("DELETE …/files/{id}", "DELETE", f"{files}/{upload['id']}", 204)
            call("DELETE /v1/jobs/{id}", "DELETE", f"/v1/jobs/{jid}", 204)
        call("DELETE /v1/contacts/{id}", "DELETE", f"/v1/contacts/{cid}", 204)
    expected = 15
    failed = [(label, code) for label, code in steps if not isinstance(code, int) or code >= 400]
    ok = not failed and len(steps) == expected
    observed = (
        f"{len(steps) - len(failed)}/{expected} steps OK"
        + (
            f"; failed: {', '.join(f'{label} → {code}' for label, code in failed)}"
            if failed
            else ""
        )
        + ("" if failed or len(steps) == expected else "; some steps could not run")
    )
    return SmokeResult(ok, observed, steps)
