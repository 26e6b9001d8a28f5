"""manage.py slo_report [--window 15m] [--version X] [--format table|json] [--source ...]"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.models import SLObjective
from ops.slo.objectives import VIOLATED, SLOResult, evaluate
from ops.slo.sources import (
    EmbeddedSource,
    MetricsSource,
    PrometheusError,
    PrometheusSource,
    default_source,
)

_DURATION = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>[smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise CommandError(f"--window must look like 15m, 1h or 7d, not {text!r}")
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def table(results: list[SLOResult]) -> str:
    header = [
        "objective",
        "endpoint",
        "samples",
        "SLI",
        "target",
        "verdict",
        "p95 ms",
        "p99 ms",
        "budget left",
        "alerts",
    ]
    rows = [header]
    for r in results:
        firing = [a.name for a in r.alerts if a.state == "firing"]
        rows.append(
            [
                r.objective.name,
                r.objective.endpoint or "*",
                str(r.samples),
                _pct(r.sli, 3),
                _pct(r.objective.target, 3),
                r.verdict,
                _ms(r.p95),
                _ms(r.p99),
                _pct(r.budget_remaining, 1),
                ", ".join(firing) or "none",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Evaluate every active SLO objective and print the results."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # `--version X` selects a release here, replacing Django's own --version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--window", help="e.g. 5m, 15m, 1h (default: each objective's)")
        parser.add_argument("--version", help="Only this release's traffic.")
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument(
            "--source",
            choices=["auto", "embedded", "prometheus"],
            default="auto",
            help="auto: Prometheus when PROMETHEUS_URL is set, else the embedded store.",
        )
        parser.add_argument(
            "--fail-on-violation",
            action="store_true",
            help="Exit 3 when any objective is violated (for CI and cron); the report is "
            "printed either way.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        window = parse_window(options["window"]) if options["window"] else None
        source: MetricsSource
        try:
            if options["source"] == "embedded":
                source = EmbeddedSource()
            elif options["source"] == "prometheus":
                source = PrometheusSource()
            else:
                source = default_source()
            results = [
                evaluate(o, source, window=window, version=options["version"])
                for o in SLObjective.objects.filter(is_active=True)
            ]
        except PrometheusError as exc:
            raise CommandError(str(exc)) from exc
        if options["format"] == "json":
            self.stdout.write(json.dumps([r.as_json() for r in results], indent=2))
        else:
            self.stdout.write(f"Source: {source.name}")
            self.stdout.write(table(results))
        violated = [r.objective.name for r in results if r.verdict == VIOLATED]
        if options["fail_on_violation"] and violated:
            raise CommandError(f"Violated: {', '.join(violated)}", returncode=3)
