"""A rollout's execution log, rendered from its events and gate results in the shape of the
deployment execution log (Markdown), or as JSON."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ops.models import GateResult, Release, Rollout, RolloutEvent, StatusEntry
from ops.rollouts import schema
from ops.rollouts.gates import judged_endpoints
from ops.rollouts.judge import Judgement, judge
from ops.rollouts.services import CONTROLLER
from ops.slo.sources import Window, default_source
from portal.formats import rfc3339

PHASE_NAMES = {
    5: "Initial Canary",
    25: "Expanded Canary",
    50: "Majority Canary",
    100: "Complete Rollout",
}
MARK = {
    "pass": "✅ PASS",
    "fail": "❌ FAIL",
    "inconclusive": "⚠️ INCONCLUSIVE",
    "error": "⚠️ PROBE ERROR",
}
FINAL: dict[str, str] = {
    Rollout.State.SUCCEEDED: "✅ **COMPLETED SUCCESSFULLY**",
    Rollout.State.ROLLED_BACK: "❌ **ROLLED BACK**",
    Rollout.State.ABORTED: "❌ **ABORTED**",
    Rollout.State.PAUSED: "⏸️ **PAUSED** (waiting for a person)",
    Rollout.State.RUNNING: "🔄 **IN PROGRESS**",
    Rollout.State.PENDING: "⏳ **PENDING**",
    Rollout.State.ROLLBACK_PENDING: "🚨 **ROLLBACK PENDING** (the traffic driver refused)",
}


def _time(event: RolloutEvent | GateResult | None) -> str:
    if event is None:
        return "—"
    when = event.at if isinstance(event, RolloutEvent) else event.created_at
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:160] or "—"


def report_data(rollout: Rollout) -> dict[str, Any]:
    events = list(rollout.events.all())
    results = list(rollout.gate_results.all())
    by_phase: dict[int, list[GateResult]] = defaultdict(list)
    for result in results:
        by_phase[result.phase_index].append(result)
    phases = []
    for phase in rollout.plan.phases.order_by("order"):
        entered = next(
            (
                e
                for e in events
                if e.after.get("phase") == phase.order and e.before.get("phase") != phase.order
            ),
            None,
        )
        attempts = by_phase.get(phase.order, [])
        last_attempt = max((r.attempt for r in attempts), default=0)
        gates = _latest_per_gate(attempts)
        left = next(
            (
                e
                for e in events
                if e.action in {"advance", "complete"} and e.before.get("phase") == phase.order
            ),
            None,
        )
        by_hand = left if left is not None and left.actor != CONTROLLER else None
        phases.append(
            {
                "order": phase.order,
                "weight": phase.weight,
                "name": PHASE_NAMES.get(phase.weight, "Canary"),
                "entered": entered,
                "gates": gates,
                "attempts": last_attempt,
                "verdict": phase_verdict(gates, entered is not None),
                "by_hand": by_hand,
                "left": left,
                "skipped": [
                    f"{r.kind} ({r.verdict})" for r in gates if r.verdict != GateResult.Verdict.PASS
                ]
                if by_hand
                else [],
                "unjudged": [
                    g.kind for g in phase.gates.all() if g.pk not in {r.gate_id for r in gates}
                ],
            }
        )
    return {"rollout": rollout, "events": events, "phases": phases}


def _latest_per_gate(attempts: list[GateResult]) -> list[GateResult]:
    """Each gate's latest result in the phase (an extended bake re-judges only some gates);
    guard breaches, which have no gate row, from the last attempt."""
    last_attempt = max((r.attempt for r in attempts), default=0)
    latest: dict[Any, GateResult] = {}
    for result in attempts:
        key = result.gate_id if result.gate_id is not None else f"guard-{result.pk}"
        if result.gate_id is None and result.attempt != last_attempt:
            continue
        latest[key] = result
    return sorted(latest.values(), key=lambda r: (r.gate.order if r.gate else 999, r.pk))


def phase_verdict(gates: list[GateResult], reached: bool) -> str:
    if not reached:
        return "not reached"
    verdicts = {r.verdict for r in gates}
    if not gates:
        return "not judged"
    if GateResult.Verdict.FAIL in verdicts:
        return "fail"
    if verdicts & {GateResult.Verdict.INCONCLUSIVE, GateResult.Verdict.ERROR}:
        return "inconclusive"
    return "pass"


PHASE_MARK = {
    "pass": "✅ **PASS**",
    "fail": "❌ **FAIL**",
    "inconclusive": "⚠️ **INCONCLUSIVE**",
    "not judged": "⏭️ **NOT JUDGED**",
}


def baselines(rollout: Rollout) -> tuple[Window | None, Judgement | None, dict[str, Any]]:
    """Canary against stable over the whole rollout, per judged endpoint, and the canary's
    5xx served meanwhile (customer impact)."""
    end = rollout.finished_at or timezone.now()
    length = max(timedelta(minutes=1), end - rollout.created_at)
    source = default_source()
    version = rollout.release.version
    everything = Window(length=length, endpoint=None, version=version, at=end)
    impact = source.counts(everything)
    judgement = None
    if rollout.baseline_version:
        pairs = {}
        for endpoint in judged_endpoints({}):
            canary = Window(length=length, endpoint=endpoint or None, version=version, at=end)
            stable = Window(
                length=length,
                endpoint=endpoint or None,
                version=rollout.baseline_version,
                at=end,
            )
            pairs[endpoint] = (source.counts(canary), source.counts(stable))
        judgement = judge(pairs, {})
    return everything, judgement, {"requests": impact.requests, "errors": impact.errors}


def render_markdown(rollout: Rollout) -> str:
    data = report_data(rollout)
    events: list[RolloutEvent] = data["events"]
    lines = _header_lines(rollout, events)
    for phase in data["phases"]:
        lines += _phase_lines(phase)
    lines += _summary_lines(rollout, events)
    lines += _manual_lines(data["phases"])
    lines += _migration_lines(rollout)
    lines += _baseline_lines(rollout)
    lines += _watch_lines(rollout)
    cleanup = [e for e in events if e.action in {"complete", "rollback", "abort"} and e.output]
    if cleanup:
        lines += ["", "## Cleanup Actions", "", "```bash", cleanup[-1].output, "```"]
    lines += ["", f"**Deployment Status**: {FINAL.get(str(rollout.state), str(rollout.state))}", ""]
    return "\n".join(lines)


def _header_lines(rollout: Rollout, events: list[RolloutEvent]) -> list[str]:
    release = rollout.release
    lines = [
        f"# Portal API v{release.version} Deployment Execution Log",
        "",
        "## Pre-Deployment Validation",
        "",
        f"- **Rollout**: {rollout.pk} on plan `{rollout.plan.name}` with the "
        f"`{rollout.driver}` traffic driver",
        f"- **Release**: {release.version}" + (f" (`{release.image}`)" if release.image else ""),
        f"- **Baseline**: {rollout.baseline_version or 'not recorded'}",
        f"- **Started by**: {rollout.started_by} at {_time(events[0] if events else None)}",
        "",
    ]
    for entry in StatusEntry.objects.filter(rollout=rollout).order_by("started_at"):
        lines += [
            "### Status Page Update",
            f"**Time**: {entry.started_at:%Y-%m-%d %H:%M} UTC  ",
            f"**Action**: {entry.title}  ",
            f"**Reference**: {entry.reference}",
            "",
        ]
    return lines


def _phase_lines(phase: dict[str, Any]) -> list[str]:
    lines = [
        "---",
        "",
        f"## Phase {phase['order']}: {phase['name']} ({phase['weight']}% Traffic)",
        "",
    ]
    entered: RolloutEvent | None = phase["entered"]
    if entered is None:
        return [*lines, "Not reached.", ""]
    if entered.output:
        lines += ["### Deployment Commands", "```bash", entered.output, "```", ""]
    gates: list[GateResult] = phase["gates"]
    if gates:
        lines += _gate_lines(phase, gates)
    if phase["unjudged"] and phase["by_hand"] is not None:
        lines += [f"Not judged before it was left: {', '.join(phase['unjudged'])}.", ""]
    return [*lines, f"**Phase {phase['order']} Result**: {_phase_verdict(phase)}", ""]


def _gate_lines(phase: dict[str, Any], gates: list[GateResult]) -> list[str]:
    lines = [
        f"### Phase {phase['order']} Validation Results",
        f"**Time**: {_time(gates[-1])} (attempt {phase['attempts']})",
        "",
        "| Gate | Observed | Target | Window | Result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in gates:
        name = (result.gate.description if result.gate else "") or result.kind
        window = f"{result.window_seconds // 60} m" if result.window_seconds else "—"
        lines.append(
            f"| {_cell(name)} | {_cell(result.observed)} | {_cell(result.target)} "
            f"| {window} | {MARK.get(result.verdict, result.verdict)} |"
        )
    lines.append("")
    failed = [r for r in gates if r.verdict != "pass"]
    if failed:
        lines += ["<details><summary>Evidence</summary>", ""]
        for result in failed:
            evidence = result.evidence or f"{result.query} (target {result.target})"
            lines += [f"**{result.kind}** — `{_cell(result.query)}`", "```", evidence[:1500]]
            lines += ["```", ""]
        lines += ["</details>", ""]
    return lines


def _phase_verdict(phase: dict[str, Any]) -> str:
    verdict = str(PHASE_MARK.get(phase["verdict"], phase["verdict"]))
    by_hand: RolloutEvent | None = phase["by_hand"]
    left: RolloutEvent | None = phase["left"]
    if left is not None and by_hand is None and left.reason:
        verdict += f" — {left.reason}"
    if by_hand is not None:
        skipped = phase["skipped"] + [f"{k} (not judged)" for k in phase["unjudged"]]
        over = "over a failing gate" if phase["verdict"] == "fail" else "by hand"
        verdict += (
            f" — advanced {over} by {by_hand.actor} at {_time(by_hand)}"
            + (f": {by_hand.reason}" if by_hand.reason else "")
            + (f" (skipped: {', '.join(skipped)})" if skipped else "")
        )
    return verdict


# The events the summary lists, in order.
SUMMARY_EVENTS = frozenset(
    {"rollback", "abort", "pause", "complete", "gate_failed", "guard_failed", "bake_extended"}
)


def _summary_lines(rollout: Rollout, events: list[RolloutEvent]) -> list[str]:
    lines = ["---", "", "## Post-Deployment Summary", ""]
    end = rollout.finished_at or (events[-1].at if events else rollout.created_at)
    lines.append(f"- **Total Duration**: {_duration((end - rollout.created_at).total_seconds())}")
    lines.append(f"- **Final canary weight**: {rollout.weight}%")
    counts: defaultdict[str, int] = defaultdict(int)
    for result in rollout.gate_results.all():
        counts[result.verdict] += 1
    lines.append(
        "- **Gate evaluations**: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        if counts
        else "- **Gate evaluations**: none"
    )
    for event in events:
        if event.action in SUMMARY_EVENTS:
            note = f": {event.reason}" if event.reason else ""
            lines.append(f"- {_time(event)} **{event.action}** by {event.actor}{note}")
    return lines


def _manual_lines(phases: list[dict[str, Any]]) -> list[str]:
    manual = [p for p in phases if p["by_hand"] is not None]
    lines = ["", "## Manual Decisions", ""]
    if not manual:
        lines.append("None: every phase was advanced by the controller on its gates.")
    for phase in manual:
        event = phase["by_hand"]
        skipped = phase["skipped"] + [f"{k} (not judged)" for k in phase["unjudged"]]
        lines.append(
            f"- Phase {phase['order']} ({phase['weight']}%): advanced by **{event.actor}** at "
            f"{_time(event)}; reason: {event.reason or 'none given'}; gates skipped: "
            f"{', '.join(skipped) or 'none (all had passed)'}"
        )
    return lines


def migration_report(rollout: Rollout) -> dict[str, Any] | None:
    """What the release did to the shared database: its new migrations and their findings,
    whether a person accepted the risk, which stay applied now, and stable's smoke on them
    (before phase 1 and after a rollback). None when the release recorded nothing."""
    record = rollout.release.migrations
    if not record:
        return None
    found = schema.verdict(rollout.release)
    smokes = list(rollout.gate_results.filter(kind=schema.SMOKE).order_by("created_at", "id"))
    before = [r for r in smokes if r.phase_index == 0 and not _after_rollback(rollout, r)]
    after = [r for r in smokes if _after_rollback(rollout, r)]
    stay = [key for key in found.new if key not in found.unapplied]
    return {
        "new": record.get("new", []),
        "safe": bool(record.get("safe")),
        "accepted_risk": schema.accepted_risk(rollout) or None,
        "stay_applied": stay if rollout.state in {"rolled_back", "aborted"} else [],
        "applied": stay,
        "stable_smoke_before_traffic": before[-1].observed if before else None,
        "stable_verified_after_rollback": (after[-1].verdict == "pass") if after else None,
        "stable_smoke_after_rollback": after[-1].observed if after else None,
    }


def _after_rollback(rollout: Rollout, result: GateResult) -> bool:
    return "after the rollback" in result.query


def _migration_lines(rollout: Rollout) -> list[str]:
    data = migration_report(rollout)
    lines = ["", "## Database Migrations", ""]
    if data is None:
        return [*lines, "Not recorded: the release's migrations were not judged."]
    if not data["new"]:
        lines.append("No new migrations: stable and canary run on the same schema.")
    for item in data["new"]:
        findings = item["findings"] or [{"severity": "ok", "code": "", "message": "safe"}]
        text = "; ".join(f"{f['severity']} {f['code']} {f['message']}".strip() for f in findings)
        lines.append(f"- `{item['migration']}`: {text}")
    if data["accepted_risk"]:
        lines.append(f"- **Risk accepted by a person**: {data['accepted_risk']}")
    if data["stable_smoke_before_traffic"]:
        smoke = data["stable_smoke_before_traffic"]
        lines.append(f"- Stable on the migrated schema, before traffic: {smoke}")
    if rollout.state in {"rolled_back", "aborted"} and data["stay_applied"]:
        verified = {True: "verified", False: "FAILED", None: "not verified yet"}[
            data["stable_verified_after_rollback"]
        ]
        seen = data["stable_smoke_after_rollback"]
        lines.append(
            f"- **Stay applied after the rollback** (never reversed by the rollback): "
            f"{', '.join(f'`{key}`' for key in data['stay_applied'])}; stable on them: "
            f"{verified}" + (f" ({seen})" if seen else "")
        )
    return lines


def _baseline_lines(rollout: Rollout) -> list[str]:
    window, judgement, impact = baselines(rollout)
    lines = ["", "## Final Performance Baselines", ""]
    if judgement is None:
        lines.append("No baseline version recorded: canary figures only.")
    else:
        minutes = int(window.length.total_seconds() // 60) if window else 0
        lines += [
            f"Canary {rollout.release.version} against stable {rollout.baseline_version} over "
            f"the same {minutes} min (the whole rollout), judged as the `baseline` gate judges. "
            f"Overall: {judgement.summary}.",
            "",
            "| Endpoint | Metric | Canary | Stable | Effect | p-value | Verdict |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for metric in judgement.metrics:
            p = "—" if metric.p_value is None else f"{metric.p_value:.3g}"
            lines.append(
                f"| {_cell(metric.endpoint or 'all API routes')} | {metric.name} "
                f"| {_cell(metric.canary)} | {_cell(metric.stable)} | {_cell(metric.effect)} "
                f"| {p} ({_cell(metric.method)}) | {metric.verdict} |"
            )
    lines += [
        "",
        "## Customer Impact",
        "",
        f"- **Canary 5xx served**: {impact['errors']} of {impact['requests']} requests on "
        f"{rollout.release.version} during the rollout",
    ]
    return lines


def _watch_lines(rollout: Rollout) -> list[str]:
    lines = ["", "## Stability Watch", ""]
    if rollout.watch_until is None:
        return [*lines, "No watch: the rollout did not succeed, or the watch is off."]
    stability = rollout.release.get_stability_display() or "not started"
    lines.append(f"- **Status**: {stability}, until {rollout.watch_until:%Y-%m-%d %H:%M} UTC")
    if rollout.release.stability == Release.Stability.WATCHING:
        interval = timedelta(seconds=settings.ROLLOUT_WATCH_INTERVAL_SECONDS)
        last = rollout.watch_checked_at or rollout.finished_at or timezone.now()
        lines.append(
            f"- **Next review**: {min(last + interval, rollout.watch_until):%Y-%m-%d %H:%M} UTC "
            f"(every {settings.ROLLOUT_WATCH_INTERVAL_SECONDS // 60} min on the controller's "
            "tick; the final review at the end of the watch)"
        )
    if rollout.watch_checked_at:
        lines.append(f"- **Last checked**: {rollout.watch_checked_at:%Y-%m-%d %H:%M:%S} UTC")
    return lines


def render_json(rollout: Rollout) -> dict[str, Any]:
    data = report_data(rollout)
    return {
        "rollout": rollout.pk,
        "release": rollout.release.version,
        "plan": rollout.plan.name,
        "driver": rollout.driver,
        "state": rollout.state,
        "weight": rollout.weight,
        "phases": [
            {
                "order": p["order"],
                "weight": p["weight"],
                "reached": p["entered"] is not None,
                "gates": [
                    {
                        "kind": r.kind,
                        "verdict": r.verdict,
                        "observed": r.observed,
                        "target": r.target,
                        "query": r.query,
                        "attempt": r.attempt,
                    }
                    for r in p["gates"]
                ],
            }
            for p in data["phases"]
        ],
        "migrations": migration_report(rollout),
        "events": [event_json(e) for e in data["events"]],
    }


def event_json(event: RolloutEvent) -> dict[str, Any]:
    return {
        "at": rfc3339(event.at),
        "actor": event.actor,
        "action": event.action,
        "reason": event.reason,
        "before": event.before,
        "after": event.after,
    }
