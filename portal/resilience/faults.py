"""Opt-in fault injection for tests and rehearsals (FAULT_INJECTION=true; refused in
production): `X-Fault-Delay-Ms: 250` delays a request, `X-Fault-Status: 500` fails it with a
problem response, `X-Fault-Cors: allow` echoes any Origin as allowed (a broken CORS policy), and
FAULT_SLOWDOWN makes chosen routes slower by a factor of their own time (a slower release), and
FAULT_ERRORS makes a share of a route's requests fail with 500 (a release broken under traffic).
All go through the whole stack, so metrics and SLOs see them as real; `rollout rehearse` uses
them to prove each gate can turn red."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve

from portal.formats import ascii_int
from portal.http.problems import problem_response
from portal.observability.metrics import request_endpoint
from portal.observability.request_context import mark_rehearsal

MAX_DELAY_MS = 5000
# Sent by `rollout rehearse` on every request; honoured only where faults are (never production).
REHEARSAL_HEADER = "X-Rehearsal"


class FaultInjectionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if REHEARSAL_HEADER in request.headers:
            # `rollout rehearse`'s requests, faulted or not (a faulted one is answered here,
            # before authentication could label it by its tenant): never judged as real.
            mark_rehearsal()
        delay = ascii_int(request.headers.get("X-Fault-Delay-Ms"), max_digits=6)
        if delay is not None:
            time.sleep(min(delay, MAX_DELAY_MS) / 1000)
        injected = request.headers.get("X-Fault-Status")
        if injected in {"500", "503"} or settings.FAULT_ERRORS:
            # Resolved here so the failure is measured under its route, like a real one.
            with contextlib.suppress(Resolver404):
                request.resolver_match = resolve(request.path_info)
        if injected not in {"500", "503"} and settings.FAULT_ERRORS:
            share = settings.FAULT_ERRORS.get(request_endpoint(request), 0.0)
            injected = "500" if random.random() < share else None  # noqa: S311 - not crypto
        if injected in {"500", "503"}:
            code = "SERVICE_UNAVAILABLE" if injected == "503" else None
            return problem_response(code or "INTERNAL_ERROR", "Injected fault (FAULT_INJECTION)")
        started = time.perf_counter()
        response = self.get_response(request)
        factor = settings.FAULT_SLOWDOWN.get(request_endpoint(request))
        if factor and factor > 1:
            time.sleep(min(MAX_DELAY_MS / 1000, (time.perf_counter() - started) * (factor - 1)))
        origin = request.headers.get("Origin")
        if request.headers.get("X-Fault-Cors") == "allow" and origin:
            response["Access-Control-Allow-Origin"] = origin
        return response
