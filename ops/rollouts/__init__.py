"""Rollouts room: the state machine (services), the reconciler that drives it, gates and their
probes, traffic drivers, notifications, reports and the stability watch. Depends on the SLO
room (gates judge objectives) and the status room (notifications post entries)."""
