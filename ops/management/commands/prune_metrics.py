"""manage.py prune_metrics [--days N]: deletes metric rollups older than the retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ops.models import MetricRollup


class Command(BaseCommand):
    help = "Delete embedded metric rollups older than METRICS_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] or settings.METRICS_RETENTION_DAYS
        if days < 1:
            raise CommandError("--days must be at least 1")
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = MetricRollup.objects.filter(minute__lt=cutoff).delete()
        self.stdout.write(f"Deleted {deleted} rollup rows older than {days} days")
