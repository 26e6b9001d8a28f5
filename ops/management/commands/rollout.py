"""manage.py rollout: drive a canary rollout from the command line.

Exit codes: 0 done; 1 error (bad input, missing rollout); 2 refused (illegal in the current
state, or someone else moved the rollout first).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from ops.models import GateResult, Rollout, RolloutPlan
from ops.rollouts import lanes, migration_gate, schema
from ops.rollouts.drivers import DRIVERS
from ops.rollouts.lint import lint_plan
from ops.rollouts.reconciler import TickResult, check_gates, tick
from ops.rollouts.rehearse import RehearsalError, rehearse, render
from ops.rollouts.report import event_json, render_json, render_markdown
from ops.rollouts.services import (
    RolloutError,
    rollout_act,
    rollout_create,
    rollout_force_rollback,
)
from ops.rollouts.validators import validate_version
from ops.rollouts.watch import watch_step

logger = logging.getLogger("portal.rollouts")

HELP = """Drive a canary rollout (5% → 25% → 50% → 100% on the default plan).

  rollout start 1.0.0 --image portal-api:v1.0.0   create a rollout and move to phase 1
  rollout status [ID] [--json]                    where it is (latest by default), its events
  rollout advance [ID] --expect-phase N           next phase (or finish after the last)
  rollout pause [ID] / rollout resume [ID]
  rollout abort [ID] --reason "why"               traffic back to stable at once
  rollout check [ID]                              judge the current phase's gates now, move nothing
  rollout report [ID] [--format md|json]          the execution log (latest rollout by default)
  rollout watch                                   judge the post-success stability watch now
  rollout tick                                    one reconciler step (cron-safe)
  rollout run [--interval 10]                     tick until the rollout finishes
  rollout lint [--plan NAME]                      a plan's mistakes, before it runs (all plans)
  rollout rehearse [--plan NAME]                  every gate once clean, once with a fault that
                                                  should fail it (canary with FAULT_INJECTION)

Without ID, commands act on the rollout in flight. Exit status: 0 done or succeeded;
1 error; 2 refused; 3 rolled back or aborted; 4 paused, waiting for a person."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--actor", default=None, help="Who acts (default: the OS user).")
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        _add_start(sub)
        _add_record_release(sub)
        _add_reading(sub)
        _add_phase_actions(sub)
        _add_controller(sub)
        _add_plan_tools(sub)
        _add_stop(
            sub,
            "abort",
            "Stop and send all traffic back to stable.",
        )
        rollback = _add_stop(
            sub,
            "rollback",
            "Send all traffic back to stable, run the plan's rollback commands, and mark the "
            "release rolled back.",
        )
        rollback.add_argument(
            "--force",
            action="store_true",
            help="For a rollback pending because the driver refuses: record it as done "
            "without calling the driver, once traffic has been moved back by hand.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The controller's own decisions (tick, run, watch) are signed "controller"; a person's
        # actions carry who ran the command.
        action = options["action"]
        person = f"cli:{getpass.getuser()}"
        actor = options["actor"] or ("controller" if action in {"tick", "run", "watch"} else person)
        try:
            if action == "start":
                self._start(options, actor)
            elif action == "record-release":
                self._record_release(options)
            elif action == "status":
                self._status(options)
            elif action == "report":
                rollout = self._target(options.get("id"), latest=True)
                if options["format"] == "json":
                    self.stdout.write(json.dumps(render_json(rollout), indent=2))
                else:
                    self.stdout.write(render_markdown(rollout))
            elif action == "watch":
                self.stdout.write(watch_step(actor=actor, force=True) or "No release under watch")
            elif action == "tick":
                result = tick(actor=actor)
                self.stdout.write(f"{result.action}: {result.detail}")
            elif action == "run":
                if options["controller"]:
                    self._controller(actor, options["interval"], options["max_seconds"] or 55)
                else:
                    self._run(actor, options["interval"], options["max_seconds"])
            elif action == "check":
                self._check(options, actor)
            elif action == "lint":
                self._lint(options["plan"])
            elif action == "rehearse":
                self._rehearse(options)
            elif action == "rollback" and options.get("force"):
                rollout = self._target(options.get("id"))
                rollout = rollout_force_rollback(
                    rollout_id=rollout.pk, actor=actor, reason=options["reason"]
                )
                self.stdout.write(self._line(rollout))
            else:
                rollout = self._target(options.get("id"))
                expected = options.get("expect_phase")
                if expected is None:
                    expected = rollout.phase_index
                    self.stdout.write(f"Acting on rollout {rollout.pk} in phase {expected}.")
                rollout = rollout_act(
                    action,
                    rollout_id=rollout.pk,
                    actor=actor,
                    reason=options["reason"] or "",
                    # Checked under the row lock: if the rollout moved on, nothing happens.
                    expected_phase=expected,
                    public_note=options.get("public_note") or "",
                )
                self.stdout.write(self._line(rollout))
        except RolloutError as exc:
            raise CommandError(str(exc), returncode=2) from None

    def _check(self, options: dict[str, Any], actor: str) -> None:
        rollout = self._target(options.get("id"))
        results = check_gates(rollout_id=rollout.pk, actor=actor)
        for result in results:
            self.stdout.write(
                f"  {result.verdict:<12} {result.kind}: {result.observed or result.evidence[:100]}"
                f" (target {result.target or '—'})"
            )
        bad = [r for r in results if r.verdict != GateResult.Verdict.PASS]
        self.stdout.write(
            f"Checked {len(results)} gate(s) of phase {rollout.phase_index}: "
            + (
                "all passed."
                if not bad
                else f"{len(bad)} did not pass ({', '.join(f'{r.kind} {r.verdict}' for r in bad)})."
            )
        )
        if bad:
            raise CommandError("Not every gate passed", returncode=1)

    def _plan(self, name: str | None) -> RolloutPlan:
        plan = (
            RolloutPlan.objects.filter(name=name).first()
            if name
            else RolloutPlan.objects.filter(is_default=True).first()
        )
        if plan is None:
            known = ", ".join(RolloutPlan.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No plan {name or '(default)'!r}; plans: {known}")
        return plan

    def _lint(self, name: str | None) -> None:
        plans = [self._plan(name)] if name else list(RolloutPlan.objects.order_by("name"))
        errors = 0
        for plan in plans:
            findings = lint_plan(plan)
            errors += sum(1 for f in findings if f.severity == "error")
            self.stdout.write(f"{plan.name}: " + ("ok" if not findings else f"{len(findings)}"))
            for finding in findings:
                self.stdout.write(f"  {finding}")
        if errors:
            raise CommandError(f"{errors} error(s) in {len(plans)} plan(s)", returncode=1)

    def _rehearse(self, options: dict[str, Any]) -> None:
        roles = lanes.current()
        try:
            rows = rehearse(
                self._plan(options["plan"]),
                canary_url=(options["canary_url"] or roles.canary_url).rstrip("/"),
                stable_url=(options["stable_url"] or roles.stable_url).rstrip("/"),
                timeout=settings.ROLLOUT_PROBE_TIMEOUT,
            )
        except RehearsalError as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(render(rows))
        if any(not row.can_fail or not row.passes_clean for row in rows):
            raise CommandError("Some gates cannot fail or do not pass clean", returncode=1)

    def _tick(self, actor: str) -> TickResult:
        """One tick that cannot end the controller: an error (the database gone for a moment,
        a bug in a gate) is logged and the next tick tries again from the database's state."""
        try:
            return tick(actor=actor)
        except Exception as exc:
            logger.exception("Controller tick failed; the next tick starts over")
            close_old_connections()
            return TickResult(None, "error", f"{type(exc).__name__}: {exc}")

    def _controller(self, actor: str, interval: float, max_seconds: float) -> None:
        started = time.monotonic()
        while True:
            result = self._tick(actor)
            self.stdout.write(f"{result.action}: {result.detail}")
            self.stdout.flush()
            if time.monotonic() - started + interval > max_seconds:
                return
            time.sleep(interval)

    def _run(self, actor: str, interval: float, max_seconds: float | None) -> None:
        started = time.monotonic()
        while True:
            result = self._tick(actor)
            self.stdout.write(f"{result.action}: {result.detail}")
            self.stdout.flush()
            if result.action == "error":
                time.sleep(interval)
                continue
            if result.action == "succeeded":
                return
            if result.action in {"rolled_back", "aborted"}:
                raise CommandError(
                    f"{result.action.replace('_', ' ').capitalize()}: {result.detail}", returncode=3
                )
            if result.action == "paused":
                raise CommandError(f"Paused for a person: {result.detail}", returncode=4)
            if result.action == "idle" and result.rollout_id is None:
                last = Rollout.objects.order_by("-created_at").first()
                if last is not None and last.state == Rollout.State.SUCCEEDED:
                    return
                if last is not None and last.state == Rollout.State.PAUSED:
                    raise CommandError("The rollout is paused; resume it first", returncode=4)
                raise CommandError("No running rollout", returncode=3 if last else 1)
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                raise CommandError(f"Still {result.action} after {max_seconds:g}s", returncode=1)
            time.sleep(interval)

    def _target(self, rollout_id: int | None, latest: bool = False) -> Rollout:
        if rollout_id is None and latest:
            newest = Rollout.objects.order_by("-created_at").first()
            if newest is None:
                raise CommandError("No rollouts yet")
            return newest
        if rollout_id is not None:
            rollout = Rollout.objects.filter(pk=rollout_id).first()
            if rollout is None:
                raise CommandError(f"No rollout {rollout_id}")
            return rollout
        active = Rollout.objects.live().first()
        if active is None:
            raise CommandError("No rollout in flight; give an ID")
        return active

    def _start(self, options: dict[str, Any], actor: str) -> None:
        plan = None
        if options["plan"]:
            plan = RolloutPlan.objects.filter(name=options["plan"]).first()
            if plan is None:
                known = ", ".join(RolloutPlan.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No plan {options['plan']!r}; plans: {known}")
        rollout = rollout_create(
            version=options["release_version"],
            image=options["image"],
            plan=plan,
            driver=options["driver"],
            actor=actor,
            baseline_version=options["baseline"],
            force_reason=options["force"],
        )
        created = rollout.events.get(action="create")
        if created.output:  # the plan's lint warnings: it runs, but judges less than it seems
            self.stderr.write(created.output)
        rollout = migration_gate.start(
            rollout_id=rollout.pk,
            actor=actor,
            accept_migration_risk=options["accept_migration_risk"],
        )
        self.stdout.write(self._line(rollout))

    def _record_release(self, options: dict[str, Any]) -> None:
        try:
            validate_version(options["release_version"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        release = schema.record_release(options["release_version"], image=options["image"])
        record = release.migrations or {}
        new = record.get("new", [])
        self.stdout.write(
            f"Release {release.version}: {len(new)} migration(s) on top of this database"
        )
        for item in new:
            findings = item["findings"] or [{"severity": "ok", "code": "", "message": "safe"}]
            for finding in findings:
                self.stdout.write(
                    f"  {item['migration']}: {finding['severity']} {finding['code']} "
                    f"{finding['message']}".rstrip()
                )
        if not record.get("safe", True):
            raise CommandError(
                "Unsafe for the stable code: `rollout start` will refuse this release unless "
                "a person accepts the risk (--accept-migration-risk REASON)"
            )

    def _status(self, options: dict[str, Any]) -> None:
        if options.get("id") is None and not Rollout.objects.exists():
            # Nothing has been rolled out yet: a state, not an error.
            self.stdout.write("[]" if options["json"] else "No rollouts yet.")
            return
        rollout = self._target(options.get("id"), latest=True)
        events = list(rollout.events.all())
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "id": rollout.pk,
                        "release": rollout.release.version,
                        "plan": rollout.plan.name,
                        "driver": rollout.driver,
                        "state": rollout.state,
                        "phase": rollout.phase_index,
                        "phases": rollout.plan.phases.count(),
                        "weight": rollout.weight,
                        # In flight: where the action under way is taking the rollout.
                        "intent": _intent(rollout),
                        "started_by": rollout.started_by,
                        "events": [event_json(e) for e in events],
                    },
                    indent=2,
                )
            )
            return
        self.stdout.write(self._line(rollout))
        for event in events:
            note = f" ({event.reason})" if event.reason else ""
            self.stdout.write(
                f"  {event.at:%Y-%m-%d %H:%M:%S} {event.action:<9} by {event.actor}{note}"
            )

    @staticmethod
    def _line(rollout: Rollout) -> str:
        phases = rollout.plan.phases.count()
        line = (
            f"Rollout {rollout.pk}: {rollout.release.version} {rollout.state}, "
            f"phase {rollout.phase_index}/{phases}, canary weight {rollout.weight}%"
        )
        intent = _intent(rollout)
        if intent is not None:
            target = "" if intent["weight"] is None else f" to {intent['weight']}%"
            line += f"; {intent['action']}{target} under way since {intent['since']}"
        return line


def _intent(rollout: Rollout) -> dict[str, Any] | None:
    """The action under way, as the record holds it until its outcome commits."""
    intent: Any = rollout.intent
    if not isinstance(intent, dict):
        return None
    return {
        "action": intent.get("action"),
        "actor": intent.get("actor"),
        "state": intent.get("state"),
        "phase": intent.get("phase"),
        "weight": intent.get("weight"),
        "since": intent.get("at"),
    }


# --- The subcommands' arguments ------------------------------------------------------------


def _rollout_id(parser: Any, default: str = "the one in flight") -> None:
    parser.add_argument("id", nargs="?", type=int, help=f"Rollout id (default: {default}).")


def _expect_phase(parser: Any) -> None:
    parser.add_argument(
        "--expect-phase",
        type=int,
        default=None,
        help="Act only if the rollout is still in this phase (checked under its lock); "
        "default: the phase this command reads and prints.",
    )


def _add_start(sub: Any) -> None:
    start = sub.add_parser("start", help="Create a rollout of VERSION and start phase 1.")
    start.add_argument(
        "release_version", metavar="VERSION", help="The release to roll out, e.g. 1.0.0."
    )
    start.add_argument("--image", default="", help="Container image, e.g. portal-api:v1.0.0")
    start.add_argument("--plan", default=None, help="Plan name (default: the default plan).")
    start.add_argument(
        "--driver",
        default="record",
        choices=sorted(DRIVERS),
        help="How traffic moves: record (store the weight only), nginx, aws-alb.",
    )
    start.add_argument(
        "--baseline",
        default="",
        help="The stable version the judge compares with (default: the last release "
        "that succeeded, else what the stable lane reports).",
    )
    start.add_argument(
        "--force",
        default="",
        metavar="REASON",
        help="Roll out a release that is the version stable runs, or older than it (a "
        "downgrade); the reason goes into the event log and the report.",
    )
    start.add_argument(
        "--accept-migration-risk",
        default="",
        metavar="REASON",
        help="Go on although the migration gate refuses the release's migrations; the "
        "reason goes into the event log and the report. Stable's smoke on the migrated "
        "database still runs before any traffic moves.",
    )


def _add_record_release(sub: Any) -> None:
    record = sub.add_parser(
        "record-release",
        help="From the release's own code (its image), before its migrations: record the "
        "migrations it applies on top of this database, their SQL and the migration "
        "gate's findings. Exit 1 if any is unsafe for the stable code.",
    )
    record.add_argument("release_version", metavar="VERSION", help="The release, e.g. 1.1.0.")
    record.add_argument("--image", default="", help="Container image of the release.")


def _add_reading(sub: Any) -> None:
    status = sub.add_parser("status", help="Show a rollout and its events.")
    _rollout_id(status, "the latest")
    status.add_argument("--json", action="store_true", help="Machine-readable output.")
    check = sub.add_parser(
        "check",
        help="Judge the current phase's gates now and record the results; moves nothing "
        "(the console's Check gates button). Exit 1 if any gate did not pass.",
    )
    _rollout_id(check, "the live one")
    report = sub.add_parser("report", help="Render the execution log (Markdown or JSON).")
    _rollout_id(report, "the latest")
    report.add_argument(
        "--format", choices=["md", "json"], default="md", help="Markdown (default) or JSON."
    )


def _add_phase_actions(sub: Any) -> None:
    for name, text in (
        ("advance", "Move to the next phase, or finish after the last one."),
        ("pause", "Hold the rollout at its current weight."),
        ("resume", "Continue a paused rollout."),
    ):
        action = sub.add_parser(name, help=text)
        _rollout_id(action)
        action.add_argument(
            "--reason",
            default="",
            help="Why (goes into the event log; required to advance over a failing gate).",
        )
        if name != "advance":
            _expect_phase(action)
            continue
        # Advancing skips judgement of whatever phase the rollout is in by then: the person
        # names the phase they judged, and a tick that moved on meanwhile wins.
        action.add_argument(
            "--expect-phase",
            type=int,
            required=True,
            help="The phase you saw (`rollout status`); nothing happens if the rollout is no "
            "longer in it (checked under its lock).",
        )


def _add_controller(sub: Any) -> None:
    sub.add_parser("watch", help="Judge the stability watch of the latest success now.")
    sub.add_parser("tick", help="Run one reconciler step: bake, judge gates, act.")
    run = sub.add_parser("run", help="Tick until the rollout succeeds, rolls back or pauses.")
    run.add_argument("--interval", type=float, default=10.0, help="Seconds between ticks.")
    run.add_argument("--max-seconds", type=float, default=None, help="Give up after this.")
    run.add_argument(
        "--controller",
        action="store_true",
        help="Keep ticking whatever happens (guarding paused rollouts too) until "
        "--max-seconds, then exit 0: what the CronJob runs every minute.",
    )


def _add_plan_tools(sub: Any) -> None:
    lint = sub.add_parser(
        "lint",
        help="Check plans: weights, bakes against gate windows, gate kinds and parameters, "
        "command placeholders, the end state. Exit 1 on any error.",
    )
    lint.add_argument("--plan", default=None, help="One plan by name (default: all).")
    rehearse = sub.add_parser(
        "rehearse",
        help="Run every gate of a plan twice against a canary started with "
        "FAULT_INJECTION=true (never production): clean, and with a fault that should "
        "fail it. Exit 1 if any gate cannot fail or does not pass clean.",
    )
    rehearse.add_argument("--plan", default=None, help="Plan name (default: the default).")
    rehearse.add_argument(
        "--canary-url", default=None, help="Default: the canary lane (CANARY_URL)."
    )
    rehearse.add_argument(
        "--stable-url", default=None, help="Default: the stable lane (STABLE_URL)."
    )


def _add_stop(sub: Any, name: str, text: str) -> Any:
    """abort and rollback: the rollout, why (internal), what the status page says."""
    stop = sub.add_parser(name, help=text)
    _rollout_id(stop)
    stop.add_argument("--reason", required=True, help="Why (goes into the event log).")
    stop.add_argument(
        "--public-note",
        default="",
        help="What the public status page says (default: a neutral sentence); --reason "
        "stays internal.",
    )
    _expect_phase(stop)
    return stop
