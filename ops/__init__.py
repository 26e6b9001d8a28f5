"""Ops: canary rollouts, SLO gates and dashboards (built in later issues)."""
