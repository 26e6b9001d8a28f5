from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations: metrics and SLOs"

    def ready(self) -> None:
        from ops import metrics_store
        from portal import metrics

        metrics.add_observer(metrics_store.recorder.observe)
