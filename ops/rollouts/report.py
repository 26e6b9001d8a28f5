"""A rollout's execution log, rendered from its events and gate results in the shape of the
deployment execution log (Markdown), or as JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ops.models import GateResult, Rollout, RolloutEvent, StatusEntry

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
        phases.append(
            {
                "order": phase.order,
                "weight": phase.weight,
                "name": PHASE_NAMES.get(phase.weight, "Canary"),
                "entered": entered,
                "gates": [r for r in attempts if r.attempt == last_attempt],
                "attempts": last_attempt,
            }
        )
    return {"rollout": rollout, "events": events, "phases": phases}


def render_markdown(rollout: Rollout) -> str:
    data = report_data(rollout)
    events: list[RolloutEvent] = data["events"]
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
    for phase in data["phases"]:
        lines += [
            "---",
            "",
            f"## Phase {phase['order']}: {phase['name']} ({phase['weight']}% Traffic)",
            "",
        ]
        entered: RolloutEvent | None = phase["entered"]
        if entered is None:
            lines += ["Not reached.", ""]
            continue
        if entered.output:
            lines += ["### Deployment Commands", "```bash", entered.output, "```", ""]
        gates: list[GateResult] = phase["gates"]
        if gates:
            lines += [
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
                    lines += [
                        f"**{result.kind}** — `{_cell(result.query)}`",
                        "```",
                        result.evidence[:1500],
                        "```",
                        "",
                    ]
                lines += ["</details>", ""]
            verdict = "✅ **PASS**" if not failed else "❌ **FAIL**"
            lines += [f"**Phase {phase['order']} Result**: {verdict}", ""]
    lines += ["---", "", "## Post-Deployment Summary", ""]
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
        if event.action in {"rollback", "abort", "pause", "complete", "gate_failed"}:
            note = f": {event.reason}" if event.reason else ""
            lines.append(f"- {_time(event)} **{event.action}** by {event.actor}{note}")
    cleanup = [e for e in events if e.action in {"complete", "rollback", "abort"} and e.output]
    if cleanup:
        lines += ["", "## Cleanup Actions", "", "```bash", cleanup[-1].output, "```"]
    lines += ["", f"**Deployment Status**: {FINAL.get(str(rollout.state), str(rollout.state))}", ""]
    return "\n".join(lines)


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
        "events": [event_json(e) for e in data["events"]],
    }


def event_json(event: RolloutEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "reason": event.reason,
        "before": event.before,
        "after": event.after,
    }
