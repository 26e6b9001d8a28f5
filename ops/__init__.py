"""Operations: three rooms under one app label (`ops`).

- `ops.slo`: metrics store, sources, objectives, dashboard, charts.
- `ops.rollouts`: canary rollouts (services, reconciler, gates, drivers, notifications,
  reports, watch).
- `ops.status`: the public status page.

Dependencies point one way: rollouts → slo, rollouts → status. `ops.console` is the staff
console's page base, shared by the rooms' views; `ops.urls` composes the pages.
"""
