from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations: SLOs, rollouts and the status page"

    def ready(self) -> None:
        # Here, once the models are loaded: every request's observation also feeds the store.
        from ops.slo import metrics_store
        from portal.observability import metrics

        metrics.add_observer(metrics_store.recorder.observe)
