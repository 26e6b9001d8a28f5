"""Probe top-up: when a phase's gates lack samples, the controller sends its own bounded
requests (as its probe tenants, never a customer) to the canary and to stable alike, so both
sides of every comparison grow at the same pace and the next tick can decide.

Bounded on every axis: ROLLOUT_TOPUP_REQUESTS per lane per tick, paced at ROLLOUT_TOPUP_RATE
requests a second per lane, read-only routes only, and a lane that answers 429 or 5xx is left
alone for the rest of the tick (top-up must never be what hurts a struggling canary).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.urls import Resolver404, resolve

from ops.rollouts.gates import GateContext, probe_paths
from portal.observability.metrics import endpoint_label


def label_of(path: str) -> str:
    try:
        return endpoint_label(resolve(urlsplit(path).path).route)
    except Resolver404:
        return ""


def paths_for(ctx: GateContext, endpoints: list[str]) -> list[str]:
    """Concrete read-only paths of the probe tenant for these endpoint labels (blank: every
    API route, so a mix of all of them)."""
    paths = probe_paths(ctx)
    if "" in endpoints:
        return paths
    wanted = set(endpoints)
    return [path for path in paths if label_of(path) in wanted]


@dataclass(frozen=True)
class TopUp:
    sent: dict[str, int]
    stopped: dict[str, str]

    def __str__(self) -> str:
        sent = ", ".join(f"{lane} {n}" for lane, n in self.sent.items()) or "none"
        stopped = "".join(f"; {lane} left alone: {why}" for lane, why in self.stopped.items())
        return f"probe top-up sent {sent}{stopped}"


def top_up(ctx: GateContext, endpoints: list[str]) -> TopUp:
    paths = paths_for(ctx, endpoints)
    lanes = {"canary": ctx.canary_url, "stable": ctx.stable_url}
    sent = dict.fromkeys(lanes, 0)
    stopped: dict[str, str] = {}
    if not paths:
        return TopUp(sent={}, stopped={"both": f"no probe route for {endpoints}"})
    budget = settings.ROLLOUT_TOPUP_REQUESTS
    interval = 1 / settings.ROLLOUT_TOPUP_RATE
    for path in itertools.islice(itertools.cycle(paths), budget):
        started = time.monotonic()
        for lane, base in lanes.items():
            if lane in stopped:
                continue
            try:
                response = ctx.get(f"{base}{path}", ctx.probes.a.token)
            except requests.RequestException as exc:
                stopped[lane] = type(exc).__name__
                continue
            sent[lane] += 1
            if response.status_code == 429 or response.status_code >= 500:
                stopped[lane] = f"{response.status_code} on {path}"
        if len(stopped) == len(lanes):
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return TopUp(sent=sent, stopped=stopped)
