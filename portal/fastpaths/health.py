"""A bare health probe answered without DRF's request handling.

A bare GET (no token, no query string, no Accept or one JSON satisfies) is what load balancers
and kubelets send, many times a second. For that request DRF's request wrapping,
authentication, permission, query and negotiation steps decide nothing, so it is answered
here with the same status, headers and body (`tests/portal/test_health_probe.py` holds both
paths to that). Anything else, and every probe with the shortcuts off, goes through DRF.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from portal.fastpaths import enabled

# What a bare probe may send: nothing DRF would act on differently from no header at all.
PROBE_ACCEPTS = frozenset({"*/*", "application/json"})


def is_bare_probe(request: HttpRequest) -> bool:
    meta = request.META
    return (
        request.method == "GET"
        and not meta.get("HTTP_AUTHORIZATION")
        and not meta.get("QUERY_STRING")
        and not meta.get("HTTP_TRANSFER_ENCODING")
        and meta.get("HTTP_ACCEPT", "*/*") in PROBE_ACCEPTS
    )


def answer_bare_probes(
    drf_view: Callable[..., HttpResponseBase],
    example: Any,
    *,
    report: Callable[[], tuple[dict[str, Any], int]],
    renderer: Any,
    headers: Mapping[str, str],
) -> Callable[..., HttpResponseBase]:
    """`drf_view`, with bare probes answered by `report()` rendered by `renderer`, with the
    headers DRF's view would add (`headers`, and the Allow header of `example`, an instance of
    the view class)."""
    # The Allow header DRF sends: the methods of a view set up for a request (setup() is what
    # adds HEAD for a view with GET).
    example.setup(None)
    allow = ", ".join(example.allowed_methods)
    content_type = f"{renderer.media_type}; charset={renderer.charset}"

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not enabled("health") or kwargs or not is_bare_probe(request):
            return drf_view(request, *args, **kwargs)
        body, status = report()
        response = HttpResponse(renderer.render(body), status=status, content_type=content_type)
        response["Allow"] = allow
        for name, value in headers.items():
            response[name] = value
        return response

    # DRF's attributes (cls, initkwargs, csrf_exempt) for the URLconf and the schema.
    functools.update_wrapper(view, drf_view)
    return view
