"""`rollout lint`: a plan's mistakes found before a rollout runs on it, not during.

Errors make a plan unusable or unsafe (unknown gate kinds, parameters of the wrong type or
range, weights that go down, a last phase short of 100 %, command templates that cannot be
filled in, a promotion that cannot end with all traffic on the new version). Warnings are
plans that run but judge less than they seem to (a bake shorter than a gate's window, a phase
without gates, an endpoint no route reports).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from functools import cache
from string import Formatter
from typing import Any, Literal

from django.urls import URLPattern, URLResolver, get_resolver

from ops.models import RolloutPhase, RolloutPlan
from ops.rollouts.gates import CATALOGUE
from ops.rollouts.judge import JUDGED_METRICS
from portal.observability.metrics import BUCKETS_MS, endpoint_label

Severity = Literal["error", "warning"]
PLACEHOLDERS = frozenset(
    {
        "version",
        "image",
        "weight",
        "canary_upstream",
        "stable_upstream",
        "canary_url",
        "stable_url",
        "baseline",
        "baseline_image",
    }
)
FRACTIONS = {"quantile", "max_rate", "min_success", "alpha", "sprt_alpha", "sprt_beta"}
RATES = {"max_error_increase", "marginal_error_increase", "sprt_min_rate"}
POSITIVE = {"window_seconds", "min_samples", "iterations", "max_expiry_seconds"}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@cache
def route_labels() -> frozenset[str]:
    """Every endpoint label the metrics can carry (the API's routes)."""
    labels: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                labels.add(endpoint_label(route))

    walk(get_resolver().url_patterns, "")
    return frozenset(labels)


def _type_problem(name: str, value: Any, default: Any) -> str | None:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    return None if ok else f"{name} must be {type(default).__name__}, not {value!r}"


def gate_problems(kind: str, params: Any) -> list[str]:
    """What is wrong with one gate's kind and parameters (also the admin's validation)."""
    spec = CATALOGUE.get(kind)
    if spec is None:
        return [f"unknown gate kind {kind!r}; known: {', '.join(sorted(CATALOGUE))}"]
    if not isinstance(params, dict):
        return ["params must be a JSON object"]
    problems = []
    for name, value in params.items():
        if name not in spec.defaults:
            known = ", ".join(sorted(spec.defaults)) or "none"
            problems.append(f"unknown parameter {name!r} for {kind}; known: {known}")
            continue
        problem = _type_problem(name, value, spec.defaults[name])
        if problem:
            problems.append(problem)
            continue
        if name in FRACTIONS and not 0 < value < 1:
            problems.append(f"{name} must be between 0 and 1, not {value}")
        if name in RATES and not 0 <= value < 1:
            problems.append(f"{name} must be a rate from 0 to 1, not {value}")
        if name in POSITIVE and value < 1:
            problems.append(f"{name} must be at least 1, not {value}")
    merged = {**spec.defaults, **params}
    if not problems:
        problems += _range_problems(kind, merged)
    return problems


def _range_problems(kind: str, p: dict[str, Any]) -> list[str]:
    problems = []
    if kind == "latency" and float(p["threshold_ms"]) not in BUCKETS_MS:
        bounds = ", ".join(f"{b:g}" for b in BUCKETS_MS)
        problems.append(f"threshold_ms must be a histogram bucket bound ({bounds})")
    if kind in {"relative_latency", "baseline"} and float(p["max_ratio"]) <= 1:
        problems.append("max_ratio must be above 1")
    if kind == "baseline":
        if float(p["marginal_ratio"]) > float(p["max_ratio"]):
            problems.append("marginal_ratio must not exceed max_ratio")
        if not 0 <= float(p["marginal_score"]) <= float(p["pass_score"]) <= 100:
            problems.append("scores must satisfy 0 ≤ marginal_score ≤ pass_score ≤ 100")
        unknown = (set(p["critical"]) | set(p["weights"])) - set(JUDGED_METRICS)
        if unknown:
            problems.append(f"critical or weights name unknown metrics {sorted(unknown)}")
        if float(p["min_difference_ms"]) < 0:
            problems.append("min_difference_ms must not be negative")
        if not all(0.5 <= float(q) < 1 for q in p["tail_quantiles"]):
            problems.append("tail_quantiles must lie in [0.5, 1), e.g. [0.95, 0.99]")
    return problems


def command_problems(templates: Any, where: str) -> list[Finding]:
    if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
        return [Finding("error", where, "commands must be a list of strings")]
    findings = []
    for template in templates:
        try:
            arguments = shlex.split(template)
            names = {
                field.split(".")[0].split("[")[0]
                for argument in arguments
                for _, field, _, _ in Formatter().parse(argument)
                if field is not None
            }
        except ValueError as exc:
            findings.append(Finding("error", where, f"{template!r} cannot be parsed: {exc}"))
            continue
        unknown = names - PLACEHOLDERS
        if unknown:
            findings.append(
                Finding(
                    "error",
                    where,
                    f"{template!r} names unknown placeholders {sorted(unknown)}; known: "
                    + ", ".join(sorted(PLACEHOLDERS)),
                )
            )
    return findings


def _phase_findings(phase: RolloutPhase, previous: int) -> list[Finding]:
    where = f"phase {phase.order} ({phase.weight}%)"
    findings = command_problems(phase.commands, f"{where} commands")
    if not 1 <= phase.weight <= 100:
        findings.append(Finding("error", where, "weight must be from 1 to 100"))
    if phase.weight <= previous:
        findings.append(
            Finding("error", where, f"weight {phase.weight}% is not above the previous {previous}%")
        )
    gates = list(phase.gates.all())
    if not gates:
        findings.append(Finding("warning", where, "no gates: it advances on time alone"))
    for gate in gates:
        at = f"{where} gate {gate.order} ({gate.kind})"
        for problem in gate_problems(gate.kind, gate.params):
            findings.append(Finding("error", at, problem))
        spec = CATALOGUE.get(gate.kind)
        if spec is None or not isinstance(gate.params, dict):
            continue
        params = {**spec.defaults, **gate.params}
        window = params.get("window_seconds")
        if isinstance(window, int | float) and window > phase.bake_seconds:
            findings.append(
                Finding(
                    "warning",
                    at,
                    f"the phase bakes {phase.bake_seconds}s but the gate judges {window:g}s: "
                    "part of its window is from before the phase (less canary traffic than "
                    "it seems)",
                )
            )
        endpoint = params.get("endpoint")
        endpoints = list(params.get("endpoints") or []) + ([endpoint] if endpoint else [])
        for label in endpoints:
            if label not in route_labels():
                findings.append(
                    Finding("warning", at, f"endpoint {label!r} matches no route: no samples")
                )
    return findings


def lint_plan(plan: RolloutPlan) -> list[Finding]:
    phases = list(plan.phases.order_by("order"))
    findings: list[Finding] = []
    if not phases:
        return [Finding("error", "plan", "no phases: a rollout on it cannot start")]
    orders = [phase.order for phase in phases]
    if orders != list(range(1, len(phases) + 1)):
        findings.append(Finding("error", "plan", f"phase orders must be 1..n, not {orders}"))
    previous = 0
    for phase in phases:
        findings += _phase_findings(phase, previous)
        previous = phase.weight
    if phases[-1].weight != 100:
        findings.append(
            Finding(
                "error",
                f"phase {phases[-1].order}",
                f"the last phase is at {phases[-1].weight}%: the rollout would finish without "
                "the new version ever taking all traffic",
            )
        )
    if plan.promotion == RolloutPlan.Promotion.RETURN_TO_STABLE and not phases[-1].commands:
        findings.append(
            Finding(
                "error",
                "promotion",
                "return_to_stable sends traffic back to the stable lane, but the last phase "
                "has no commands to redeploy it with the new version: it would end on the old "
                "one",
            )
        )
    findings += command_problems(plan.rollback_commands, "rollback commands")
    findings += command_problems(plan.cleanup_commands, "cleanup commands")
    if plan.max_gate_failures < 1:
        findings.append(Finding("error", "plan", "max_gate_failures must be at least 1"))
    return findings
