"""SLO room: the embedded metrics store, metrics sources (embedded or Prometheus), objectives
and their math, the dashboard and its charts. Imports neither other room."""
