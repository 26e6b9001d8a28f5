"""The staff console (/ops/): rollouts and the SLO dashboard; and the public status page.

Console pages are for active staff only; acting on a rollout also needs the
`ops.operate_rollout` permission. Every action is a CSRF-protected POST that goes through the
row-locked services of ops/rollouts.py with the operator as the actor, so the event log says
who did what and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views import View

from ops import selectors
from ops.controller import check_gates
from ops.dashboard import DEFAULT_WINDOW, WINDOWS, build, current_versions, known_versions
from ops.forms import ActionForm, DashboardForm, StartRolloutForm
from ops.models import GateResult, Rollout
from ops.report import render_json, render_markdown
from ops.rollouts import TRANSITIONS, RolloutError, rollout_act, rollout_create, rollout_start
from ops.sources import PrometheusError

# Pages that only load this site's own files: no inline script or style, no third parties.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PERMISSION = "ops.operate_rollout"
LIVE_STATES = {Rollout.State.PENDING, Rollout.State.RUNNING, Rollout.State.PAUSED}


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
        Action("gates", "Check gates now", False, False, "secondary",
               "Judges this phase's gates now and records the results; moves nothing."),
        Action("advance", "Advance", True, False, "primary",
               "Moves to the next phase's weight, whatever the gates said."),
        Action("pause", "Pause", False, False, "secondary",
               "The controller stops judging and advancing until someone resumes."),
        Action("resume", "Resume", False, False, "primary", "The controller takes over again."),
        Action("abort", "Abort", True, True, "danger",
               "Returns all traffic to stable and ends the rollout."),
        Action("rollback", "Roll back", True, True, "danger",
               "Returns all traffic to stable, runs the plan's rollback commands, and marks "
               "the release rolled back."),
    )
}  # fmt: skip


def legal_actions(rollout: Rollout) -> list[Action]:
    legal = [a for a in ACTIONS.values() if rollout.state in TRANSITIONS.get(a.name, ())]
    if rollout.state in {Rollout.State.RUNNING, Rollout.State.PAUSED}:
        legal.insert(0, ACTIONS["gates"])
    return legal


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "ops/forbidden.html", {"message": message}, status=403)


class ConsolePage(View):
    """Every console page: staff only, never cached, a strict Content-Security-Policy."""

    operator_only = False
    nav = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        response: HttpResponseBase
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            response = forbidden(request, "The ops console is for staff accounts only.")
        elif self.operator_only and not user.has_perm(PERMISSION):
            response = forbidden(request, "Acting on rollouts needs the “operate rollouts” "
                                          "permission; ask an administrator.")  # fmt: skip
        else:
            response = super().dispatch(request, *args, **kwargs)
        add_never_cache_headers(response)
        response.setdefault("Content-Security-Policy", CSP)
        return response

    def page(
        self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
    ) -> HttpResponse:
        context = {"nav": self.nav, "can_operate": request.user.has_perm(PERMISSION), **context}
        return render(request, template, context, status=status)


def _see_other(url: str) -> HttpResponse:
    # 303: the browser follows a POST's answer with a GET, so a reload does not repeat it.
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


class RolloutListView(ConsolePage):
    nav = "rollouts"

    def get(self, request: HttpRequest) -> HttpResponse:
        rollouts = Rollout.objects.select_related("release", "plan")
        page = Paginator(rollouts, 25).get_page(request.GET.get("page"))
        active = rollouts.filter(state__in=LIVE_STATES).first()
        return self.page(request, "ops/rollout_list.html", {"page": page, "active": active})


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
                    version=data["version"], image=data["image"], plan=data["plan"],
                    driver=data["driver"], baseline_version=data["baseline_version"], actor=actor,
                )  # fmt: skip
            except (RolloutError, ValueError) as exc:
                form.add_error(None, str(exc))
            else:
                try:
                    rollout_start(rollout_id=rollout.pk, actor=actor)
                    messages.success(request, f"Rollout of {rollout.release} started.")
                except RolloutError as exc:
                    messages.error(request, f"Created, but it could not start: {exc}")
                return _see_other(reverse("ops:rollout", args=[rollout.pk]))
        return self.page(request, "ops/rollout_start.html", {"form": form}, status=400)


def _rollout(pk: int) -> Rollout:
    queryset = Rollout.objects.select_related("release", "plan").prefetch_related(
        # report_data() walks every event and gate result; the gate's description is shown.
        "events",
        Prefetch("gate_results", queryset=GateResult.objects.select_related("gate")),
        "plan__phases",
    )
    return get_object_or_404(queryset, pk=pk)


class RolloutDetailView(ConsolePage):
    nav = "rollouts"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        rollout = _rollout(pk)
        context = {
            **selectors.rollout_detail(rollout),
            "actions": legal_actions(rollout),
            "live": rollout.state in LIVE_STATES,
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
        rollout = _rollout(pk)
        chosen = self._action(action)
        form = ActionForm(
            initial={"expected_phase": rollout.phase_index},
            reason_required=chosen.reason_required,
        )
        return self._confirm(request, rollout, chosen, form)

    def _confirm(
        self, request: HttpRequest, rollout: Rollout, action: Action, form: ActionForm,
        status: int = 200,
    ) -> HttpResponse:  # fmt: skip
        context = {
            **selectors.rollout_detail(rollout),
            "action": action,
            "form": form,
            "legal": action in legal_actions(rollout),
        }
        return self.page(request, "ops/rollout_confirm.html", context, status=status)

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        chosen = self._action(action)
        rollout = get_object_or_404(Rollout.objects.select_related("release", "plan"), pk=pk)
        detail = reverse("ops:rollout", args=[pk])
        form = ActionForm(request.POST, reason_required=chosen.reason_required)
        if chosen.confirm and request.POST.get("confirmed") != "yes":
            return _see_other(reverse("ops:rollout-action", args=[pk, action]))
        if not form.is_valid():
            return self._confirm(request, _rollout(pk), chosen, form, status=400)
        actor = request.user.get_username()
        reason: str = form.cleaned_data["reason"]
        expected = form.cleaned_data["expected_phase"]
        try:
            if expected is not None and expected != rollout.phase_index:
                raise RolloutError(
                    f"The rollout moved on since you looked: it is now in phase "
                    f"{rollout.phase_index}. Nothing was done."
                )
            message = self._perform(chosen.name, rollout.pk, actor, reason, expected)
        except RolloutError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, message)
        return _see_other(detail)

    @staticmethod
    def _perform(name: str, pk: int, actor: str, reason: str, expected: int | None) -> str:
        if name == "gates":
            results = check_gates(rollout_id=pk, actor=actor)
            passed = sum(r.verdict == GateResult.Verdict.PASS for r in results)
            return f"Checked {len(results)} gate(s): {passed} passed."
        done = rollout_act(name, rollout_id=pk, actor=actor, reason=reason, expected_phase=expected)
        return f"Rollout {done.pk} is {done.get_state_display().lower()} at {done.weight}%."


class RolloutReportView(ConsolePage):
    nav = "rollouts"

    def get(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        rollout = _rollout(pk)
        name = f"rollout-{rollout.pk}-{rollout.release.version}"
        if fmt == "json":
            response: HttpResponse = JsonResponse(render_json(rollout))
        else:
            response = HttpResponse(
                render_markdown(rollout), content_type="text/markdown; charset=utf-8"
            )
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response


class SLODashboardView(ConsolePage):
    nav = "slo"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = DashboardForm(request.GET)
        if not form.is_valid():
            return self.page(request, "ops/slo_dashboard.html", {"form": form}, status=400)
        data = form.cleaned_data
        versions = current_versions(stable=data["stable"], canary=data["canary"])
        context: dict[str, Any] = {
            "form": form,
            "windows": list(WINDOWS),
            "window_key": data["window"] or DEFAULT_WINDOW,
            "versions": versions,
            "known_versions": known_versions(),
        }
        try:
            context["dashboard"] = build(window_key=context["window_key"], versions=versions)
        except PrometheusError as exc:
            context["error"] = str(exc)
            return self.page(request, "ops/slo_dashboard.html", context, status=503)
        return self.page(request, "ops/slo_dashboard.html", context)


# --- The public status page -----------------------------------------------------------------


def _public(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=10)
    response["Content-Security-Policy"] = CSP
    return response


def status_page(request: HttpRequest) -> HttpResponse:
    overview = selectors.status_overview()
    return _public(render(request, "status/status.html", {"overview": overview}))


def status_feed(request: HttpRequest) -> HttpResponse:
    return _public(JsonResponse(selectors.status_json(selectors.status_overview())))
