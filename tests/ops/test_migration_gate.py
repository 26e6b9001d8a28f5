"""The migration gate on PostgreSQL, with nothing of PostgreSQL mocked: each unsafe operation
class refused, each safe pattern accepted (and the safe ones really run), stable's contract
smoke against a real server catching a dropped column, and the override path.

The rule tests generate each migration's SQL with PostgreSQL's own schema editor; the
end-to-end tests apply the demo's migrations to the test database for real and reverse them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.postgres.operations import (
    AddConstraintNotValid,
    AddIndexConcurrently,
    ValidateConstraint,
)
from django.core.management import call_command
from django.db import connection, migrations, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from ops.models import Gate, GateResult, Notification, Rollout
from ops.rollouts import migration_gate, schema
from ops.rollouts.reconciler import tick
from ops.rollouts.report import render_json, render_markdown
from ops.rollouts.services import (
    RolloutError,
    rollout_create,
    rollout_rollback,
    rollout_start,
)
from tests.factories import RolloutPlanFactory

pytestmark = [
    pytest.mark.migration_gate,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="PostgreSQL's rules (CI's PostgreSQL pass)"
    ),
]


def _migration(*operations: Any, atomic: bool = True, name: str = "0099_change") -> Any:
    attrs = {"operations": list(operations), "atomic": atomic, "dependencies": []}
    return type("Migration", (migrations.Migration,), attrs)(name, "contacts")


def _state() -> ProjectState:
    return MigrationLoader(connection).project_state()


def judge(*operations: Any, atomic: bool = True, stable: ProjectState | None = None) -> Any:
    state = _state()
    known = schema.StableSchema(stable or state)
    result, _ = schema.review(_migration(*operations, atomic=atomic), state, known)
    return result


def codes(result: Any, severity: str = schema.ERROR) -> set[str]:
    return {f.code for f in result.findings if f.severity == severity}


UNSAFE: dict[str, tuple[list[Any], str]] = {
    "drop a column stable reads": (
        [migrations.RemoveField("contact", "company")],
        "DROP_COLUMN",
    ),
    "rename a column": (
        [migrations.RenameField("contact", "company", "organisation")],
        "RENAME_COLUMN",
    ),
    "rename a table": ([migrations.AlterModelTable("contact", "contacts_person")], "RENAME_TABLE"),
    "drop a table": ([migrations.RunSQL('DROP TABLE "contacts_contact" CASCADE')], "DROP_TABLE"),
    "add NOT NULL without a database default": (
        [migrations.AddField("contact", "tier", models.CharField(max_length=10, default="basic"))],
        "NOT_NULL",
    ),
    "change a column's type": (
        [migrations.AlterField("contact", "phone", models.IntegerField(null=True))],
        "ALTER_COLUMN",
    ),
    "narrow a varchar": (
        [migrations.AlterField("contact", "company", models.CharField(max_length=20))],
        "ALTER_COLUMN",
    ),
    "add a unique constraint": (
        [
            migrations.AddConstraint(
                "contact",
                models.UniqueConstraint(fields=["tenant", "phone"], name="contact_phone_unique"),
            )
        ],
        "ADD_UNIQUE",
    ),
    "index an existing table in a transaction": (
        [migrations.AddIndex("contact", models.Index(fields=["phone"], name="contact_phone"))],
        "INDEX_NOT_CONCURRENT",
    ),
    "add a check constraint that scans under lock": (
        [
            migrations.AddConstraint(
                "contact",
                models.CheckConstraint(condition=~models.Q(name=""), name="contact_name_not_empty"),
            )
        ],
        "CONSTRAINT_NOT_VALID",
    ),
    "add a foreign key column to an existing table": (
        [
            migrations.AddField(
                "contact",
                "referrer",
                models.ForeignKey("contacts.contact", null=True, on_delete=models.SET_NULL),
            )
        ],
        "CONSTRAINT_NOT_VALID",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_each_unsafe_operation_class_is_refused(case: str) -> None:
    operations, code = UNSAFE[case]
    result = judge(*operations)
    assert not result.safe, result
    assert code in codes(result), result.findings


SAFE: dict[str, list[Any]] = {
    "a nullable column": [
        migrations.AddField("contact", "nickname", models.CharField(max_length=50, null=True))
    ],
    "a NOT NULL column with a database default": [
        migrations.AddField("contact", "tier", models.CharField(max_length=10, db_default="basic"))
    ],
    "a new table with its index and foreign key": [
        migrations.CreateModel(
            "Note",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("contact", models.ForeignKey("contacts.contact", on_delete=models.CASCADE)),
                ("text", models.TextField()),
            ],
            options={"indexes": [models.Index(fields=["text"], name="note_text")]},
        )
    ],
    "a wider varchar": [
        migrations.AlterField("contact", "company", models.CharField(max_length=300))
    ],
    "a constraint added NOT VALID": [
        AddConstraintNotValid(
            "contact",
            models.CheckConstraint(condition=~models.Q(name=""), name="contact_name_not_empty"),
        )
    ],
    "a constraint validated later": [
        ValidateConstraint("contact", name="contact_name_not_empty"),
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(SAFE))
def test_each_safe_pattern_is_accepted(case: str) -> None:
    result = judge(*SAFE[case])
    assert result.safe, result.findings


@pytest.mark.django_db(transaction=True)  # as `record-release` runs: outside any transaction
def test_an_index_built_concurrently_outside_a_transaction_is_accepted() -> None:
    operation = AddIndexConcurrently("contact", models.Index(fields=["phone"], name="c_phone"))
    assert judge(operation, atomic=False).safe
    assert "INDEX_NOT_CONCURRENT" in codes(
        judge(migrations.AddIndex("contact", models.Index(fields=["phone"], name="c_phone")))
    )


@pytest.mark.django_db
def test_dropping_a_column_stable_no_longer_has_is_the_contract_step() -> None:
    # Release 2 removed the field from the models only (state), keeping the column; release 3
    # drops the column. Judged against release 2's state, the drop is safe.
    stable = _state()
    migrations.RemoveField("contact", "company").state_forwards("contacts", stable)
    drop = migrations.SeparateDatabaseAndState(
        database_operations=[
            migrations.RunSQL('ALTER TABLE "contacts_contact" DROP COLUMN "company"')
        ]
    )
    result = judge(drop, stable=stable)
    assert result.safe, result.findings
    assert "DROP_COLUMN" in codes(result, schema.WARNING)
    # The same drop against a stable that still reads the column: refused.
    assert "DROP_COLUMN" in codes(judge(drop))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", ["a nullable column", "a NOT NULL column with a database default"])
def test_the_accepted_patterns_really_run_under_the_lock_timeout(case: str) -> None:
    seen: list[str] = []

    def apply_then_undo() -> None:
        with transaction.atomic():
            with connection.schema_editor(atomic=True) as editor:
                with connection.cursor() as cursor:
                    cursor.execute("SHOW lock_timeout")
                    seen.append(cursor.fetchone()[0])
                    cursor.execute("SHOW statement_timeout")
                    seen.append(cursor.fetchone()[0])
                _migration(*SAFE[case]).apply(_state(), editor)
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        apply_then_undo()
    assert seen == ["5s", "1min"]
    # Put back afterwards: the app's own statement timeout, no lock timeout.
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"


# --- End to end: the demo's migrations, stable served for real --------------------------------


@pytest.fixture
def lanes_at(live_server: Any, settings: Any) -> str:
    settings.ROLLOUT_STABLE_URL = settings.ROLLOUT_CANARY_URL = live_server.url
    settings.ROLLOUT_NOTIFIERS = ["status", "webhook", "log"]
    return str(live_server.url)


@pytest.fixture
def demo_migrations(settings: Any) -> Iterator[Any]:
    """The canary's code: the demo app's migrations of a kind; reversed afterwards."""

    def use(kind: str) -> None:
        settings.MIGRATION_MODULES = {"demo": f"demo.schema_{kind}"}

    yield use
    if schema.applied_migrations() & {
        "demo.0001_drop_contact_company",
        "demo.0001_add_contact_nickname",
    }:
        call_command("migrate", "demo", "zero", verbosity=0)


def gated_plan() -> Any:
    plan = RolloutPlanFactory.create(phases=2, bake=60)
    Gate.objects.create(phase=plan.phases.get(order=1), kind=schema.GATE, order=0)
    return plan


@pytest.mark.django_db(transaction=True)
def test_a_breaking_release_is_refused_before_anything_is_migrated(
    lanes_at: str, demo_migrations: Any
) -> None:
    demo_migrations("breaking")
    release = schema.record_release("2.0.0")
    assert release.migrations is not None
    assert release.migrations["safe"] is False
    [new] = release.migrations["new"]
    assert new["migration"] == "demo.0001_drop_contact_company"
    assert any("contacts_contact.company" in f["message"] for f in new["findings"])
    rollout = rollout_create(version="2.0.0", actor="t", plan=gated_plan())
    with pytest.raises(RolloutError, match="Migration gate: 1 unsafe change"):
        migration_gate.start(rollout_id=rollout.pk, actor="t")
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight, rollout.phase_index) == ("aborted", 0, 0)
    assert "demo.0001_drop_contact_company" not in schema.applied_migrations()
    lint = GateResult.objects.get(rollout=rollout, kind=schema.GATE)
    assert lint.verdict == "fail"
    assert "drops contacts_contact.company" in lint.evidence


@pytest.mark.django_db(transaction=True)
def test_stable_smoke_catches_the_dropped_column_when_the_risk_is_accepted(
    lanes_at: str, demo_migrations: Any
) -> None:
    demo_migrations("breaking")
    schema.record_release("2.0.0")
    rollout = rollout_create(version="2.0.0", actor="t", plan=gated_plan())
    # What the release's migrate Job does, once a person accepted the risk.
    call_command("migrate", "demo", verbosity=0)
    with pytest.raises(RolloutError, match="stable version fails on the migrated schema"):
        migration_gate.start(
            rollout_id=rollout.pk, actor="ann", accept_migration_risk="demo of the smoke"
        )
    rollout.refresh_from_db()
    assert (rollout.state, rollout.weight) == ("aborted", 0)
    accepted = rollout.events.get(action=schema.RISK_ACCEPTED)
    assert (accepted.actor, accepted.reason) == ("ann", "demo of the smoke")
    smoke = GateResult.objects.get(rollout=rollout, kind=schema.SMOKE)
    assert smoke.verdict == "fail"
    # Stable's code fails on the dropped column: its probe fixtures, or its API (500).
    assert "company" in smoke.observed or "GET /v1/contacts → 500" in smoke.observed
    assert Notification.objects.filter(rollout=rollout, event="schema_broken").exists()
    report = render_markdown(rollout)
    assert "demo of the smoke" in report
    assert "demo.0001_drop_contact_company" in report
    assert render_json(rollout)["migrations"]["stay_applied"] == ["demo.0001_drop_contact_company"]


@pytest.mark.django_db(transaction=True)
def test_a_safe_release_is_migrated_smoked_and_verified_again_after_a_rollback(
    lanes_at: str, demo_migrations: Any
) -> None:
    demo_migrations("expand")
    release = schema.record_release("2.1.0")
    assert release.migrations is not None
    assert release.migrations["safe"] is True
    plan = gated_plan()
    plan.migrate_commands = [
        "python -c \"print('the release migrate Job would run here')\"",
    ]
    plan.save()
    rollout = rollout_create(version="2.1.0", actor="t", plan=plan)
    # The plan's migrate command does not migrate this test database: not applied, refused.
    with pytest.raises(RolloutError, match=r"not applied: demo\.0001_add_contact_nickname"):
        migration_gate.start(rollout_id=rollout.pk, actor="t")
    assert rollout.events.filter(action="migrated").exists()

    rollout = rollout_create(version="2.1.0", actor="t", plan=gated_plan(), force_reason="again")
    call_command("migrate", "demo", verbosity=0)
    started = migration_gate.start(rollout_id=rollout.pk, actor="t")
    assert (started.state, started.phase_index, started.weight) == ("running", 1, 5)
    passed = GateResult.objects.get(rollout=rollout, kind=schema.SMOKE, phase_index=0)
    assert (passed.verdict, passed.observed) == ("pass", "15/15 steps OK")

    rollout_rollback(rollout_id=rollout.pk, actor="t", reason="try the check after it")
    result = tick(actor="controller")
    assert result.action == "verified", result
    event = rollout.events.get(action=migration_gate.VERIFIED_AFTER_ROLLBACK)
    assert "Stable passes" in event.reason
    assert "demo.0001_add_contact_nickname" in event.reason
    report = render_json(Rollout.objects.get(pk=rollout.pk))["migrations"]
    assert report["stay_applied"] == ["demo.0001_add_contact_nickname"]
    assert report["stable_verified_after_rollback"] is True
    # Once per rollout: the earlier, refused rollout of the same release too; then no more.
    assert tick(actor="controller").action == "verified"
    assert tick(actor="controller").action != "verified"


@pytest.mark.django_db
def test_a_gated_plan_cannot_be_started_around_the_gate() -> None:
    rollout = rollout_create(version="3.0.0", actor="t", plan=gated_plan())
    with pytest.raises(RolloutError, match="migration gate that has not passed"):
        rollout_start(rollout_id=rollout.pk, actor="t")


@pytest.mark.django_db
def test_an_unrecorded_release_is_refused_with_what_to_run() -> None:
    rollout = rollout_create(version="3.1.0", actor="t", plan=gated_plan())
    with pytest.raises(RolloutError, match="rollout record-release"):
        migration_gate.start(rollout_id=rollout.pk, actor="t")
