"""Console pages for rollouts: the list, the start form, a rollout's page with its actions,
and its report. Every action is a CSRF-protected POST that goes through the row-locked
services (ops/rollouts/services.py) with the operator as the actor, so the event log says who
did what and why."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse

from ops.console import ConsolePage, see_other
from ops.models import GateResult, Rollout
from ops.rollouts import migration_gate
from ops.rollouts.forms import ActionForm, StartRolloutForm
from ops.rollouts.reconciler import check_gates
from ops.rollouts.report import render_json, render_markdown
from ops.rollouts.selectors import rollout_detail, rollout_for_page, rollout_list
from ops.rollouts.services import (
    TRANSITIONS,
    RolloutError,
    carried_out_in_background,
    rollout_act,
    rollout_create,
)


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    confirm: bool  # a confirmation page comes first
    reason_required: bool
    style: str = "secondary"
    help: str = ""


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("start", "Start", False, False, "primary", "Moves traffic to phase 1."),
        Action(
            "gates",
            "Check gates now",
            False,
            False,
            "secondary",
            "Judges this phase's gates now and records the results; moves nothing.",
        ),
        Action(
            "advance",
            "Advance",
            True,
            False,
            "primary",
            "Moves to the next phase's weight, whatever the gates said.",
        ),
        Action(
            "pause",
            "Pause",
            False,
            False,
            "secondary",
            "The controller stops judging and advancing until someone resumes.",
        ),
        Action("resume", "Resume", False, False, "primary", "The controller takes over again."),
        Action(
            "abort",
            "Abort",
            True,
            True,
            "danger",
            "Returns all traffic to stable and ends the rollout.",
        ),
        Action(
            "rollback",
            "Roll back",
            True,
            True,
            "danger",
            "Returns all traffic to stable, runs the plan's rollback commands, and marks "
            "the release rolled back.",
        ),
    )
}


def legal_actions(rollout: Rollout) -> list[Action]:
    legal = [a for a in ACTIONS.values() if rollout.state in TRANSITIONS.get(a.name, ())]
    if rollout.state in {Rollout.State.RUNNING, Rollout.State.PAUSED}:
        legal.insert(0, ACTIONS["gates"])
    return legal


class RolloutListView(ConsolePage):
    nav = "rollouts"

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(rollout_list(), 25).get_page(request.GET.get("page"))
        context = {"page": page, "active": rollout_list().live().first()}
        return self.page(request, "ops/rollout_list.html", context)


class RolloutStartView(ConsolePage):
    nav = "rollouts"
    operator_only = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(request, "ops/rollout_start.html", {"form": StartRolloutForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = StartRolloutForm(request.POST)
        if form.is_valid():
            actor = request.user.get_username()
            data = form.cleaned_data
            try:
                rollout = rollout_create(
                    version=data["version"],
                    image=data["image"],
                    plan=data["plan"],
                    driver=data["driver"],
                    baseline_version=data["baseline_version"],
                    force_reason=data["force_reason"],
                    actor=actor,
                )
            except (RolloutError, ValueError) as exc:
                form.add_error(None, str(exc))
            else:
                warnings = rollout.events.filter(action="create").values_list("output", flat=True)
                for text in warnings:
                    if text:  # the plan's lint warnings: it runs, but judges less than it seems
                        messages.warning(request, text)
                try:
                    # Phase 1's commands may take minutes: the page follows them.
                    with carried_out_in_background():
                        started = migration_gate.start(
                            rollout_id=rollout.pk,
                            actor=actor,
                            accept_migration_risk=data["accept_migration_risk"],
                        )
                    done = "started" if started.intent is None else "starting"
                    messages.success(request, f"Rollout of {rollout.release} {done}.")
                except RolloutError as exc:
                    messages.error(request, f"Created, but it could not start: {exc}")
                return see_other(reverse("ops:rollout", args=[rollout.pk]))
        return self.page(request, "ops/rollout_start.html", {"form": form}, status=400)


class RolloutDetailView(ConsolePage):
    nav = "rollouts"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        rollout = rollout_for_page(pk)
        context = {
            **rollout_detail(rollout),
            "actions": legal_actions(rollout),
            "live": rollout.state in Rollout.LIVE_STATES,
        }
        if request.GET.get("fragment") == "live":
            return self.page(request, "ops/_rollout_live.html", context)
        return self.page(request, "ops/rollout_detail.html", context)


class RolloutActionView(ConsolePage):
    """GET: the confirmation page. POST: the action itself."""

    nav = "rollouts"
    operator_only = True

    def _action(self, name: str) -> Action:
        if name not in ACTIONS:
            raise Http404("No such action")
        return ACTIONS[name]

    def get(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        rollout = rollout_for_page(pk)
        chosen = self._action(action)
        form = ActionForm(
            initial={"expected_phase": rollout.phase_index},
            reason_required=chosen.reason_required,
        )
        return self._confirm(request, rollout, chosen, form)

    def _confirm(
        self,
        request: HttpRequest,
        rollout: Rollout,
        action: Action,
        form: ActionForm,
        status: int = 200,
    ) -> HttpResponse:
        context = {
            **rollout_detail(rollout),
            "action": action,
            "form": form,
            "legal": action in legal_actions(rollout),
        }
        return self.page(request, "ops/rollout_confirm.html", context, status=status)

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        chosen = self._action(action)
        rollout = get_object_or_404(Rollout.objects.select_related("release", "plan"), pk=pk)
        detail = reverse("ops:rollout", args=[pk])
        form = ActionForm(
            request.POST,
            reason_required=chosen.reason_required,
            phase_required=chosen.name == "advance",
        )
        if chosen.confirm and request.POST.get("confirmed") != "yes":
            return see_other(reverse("ops:rollout-action", args=[pk, action]))
        if not form.is_valid():
            return self._confirm(request, rollout_for_page(pk), chosen, form, status=400)
        actor = request.user.get_username()
        reason: str = form.cleaned_data["reason"]
        expected = form.cleaned_data["expected_phase"]
        try:
            # A stale page acts on nothing: the service checks `expected` under the row lock.
            note: str = form.cleaned_data.get("public_note") or ""
            ok, message = self._perform(chosen.name, rollout.pk, actor, reason, expected, note)
        except RolloutError as exc:
            messages.error(request, str(exc))
        else:
            (messages.success if ok else messages.warning)(request, message)
        return see_other(detail)

    @staticmethod
    def _perform(
        name: str, pk: int, actor: str, reason: str, expected: int | None, public_note: str = ""
    ) -> tuple[bool, str]:
        """What was done, and whether it went well (a check with failures is a warning)."""
        if name == "gates":
            results = check_gates(rollout_id=pk, actor=actor)
            bad = [r for r in results if r.verdict != GateResult.Verdict.PASS]
            if not bad:
                return True, f"Checked {len(results)} gate(s): all passed."
            names = ", ".join(f"{r.kind} {r.verdict}" for r in bad)
            return False, (
                f"Checked {len(results)} gate(s): {len(bad)} did not pass ({names}). "
                "Advancing over a failing gate needs a reason."
            )
        with carried_out_in_background():
            if name == "start":
                # A pending rollout starts through the migration gate, as from the CLI.
                started = migration_gate.start(rollout_id=pk, actor=actor, expected_phase=expected)
                return True, f"Rollout {started.pk} is {started.get_state_display().lower()}."
            done = rollout_act(
                name,
                rollout_id=pk,
                actor=actor,
                reason=reason,
                expected_phase=expected,
                public_note=public_note,
            )
        if done.intent is not None:
            return True, f"Rollout {done.pk}: {name} under way; this page follows it."
        return True, f"Rollout {done.pk} is {done.get_state_display().lower()} at {done.weight}%."


class RolloutReportView(ConsolePage):
    nav = "rollouts"

    def get(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        rollout = rollout_for_page(pk)
        name = f"rollout-{rollout.pk}-{rollout.release.version}"
        if fmt == "json":
            response: HttpResponse = JsonResponse(render_json(rollout))
        else:
            response = HttpResponse(
                render_markdown(rollout), content_type="text/markdown; charset=utf-8"
            )
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response
