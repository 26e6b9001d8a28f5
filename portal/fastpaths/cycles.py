"""Frees a DRF request's objects when it ends, instead of at the next garbage collection.

DRF links the objects of every request in reference cycles: the view and its Request
(`parser_context["view"]`, and `parser_context["request"]` is the Request itself), the view
and its Response (`view.response`, `renderer_context["view"]`), a serializer and its output
(`ReturnList.serializer`, `ReturnDict.serializer`), a list serializer and its child, a
serializer and its bound fields (`field.parent`), a filterset and its filters, a form and its
bound fields; and Django's View keeps its own bound `get` as `head`. Reference counting
cannot free a cycle, so each request's view, serializers, input rows and output stayed in
memory until the cyclic collector ran, and then it freed a dozen requests' worth at once,
inside whichever request had set it off: a pause in some unlucky request's latency
(BENCHMARKS.md, "What each shortcut is worth", has the measurement).

Once a response is rendered nothing reads those links again (the body is bytes, and the
middleware above reads the response's headers and status), so `release` cuts them, and reference
counting frees each request's objects as its last reference goes. What stays readable:
`response.data` (the test client reads it), the view's `request`, the serializer's data. Input
serializers let go of their fields once validated, and filtersets once they have filtered
(`portal.http.serializers`, `portal.http.filters`). Left to the collector: Django's own cycles
that hold nothing of a request's (the SQL compiler's closure for a `select_related` query, a
model instance and its FieldFile).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

from django_filters.fields import ChoiceIterator
from django_filters.filters import FilterMethod
from rest_framework.request import Request
from rest_framework.response import Response

from portal.fastpaths import enabled


def release_after_render(view: Any) -> Callable[[Response], None]:
    """A post-render callback for `view`'s response (held weakly: the callback stays on the
    response, and must not keep the view alive)."""
    view_ref = weakref.ref(view)

    def callback(response: Response) -> None:
        release(view_ref(), response)

    return callback


def release(view: Any, response: Any) -> None:
    if not enabled("cycles"):
        return
    response.renderer_context = {}
    if view is not None:
        view.response = None
        # Django's View.setup answers HEAD with GET by keeping the bound `get` on the view.
        view.__dict__.pop("head", None)
        request = getattr(view, "request", None)
        if isinstance(request, Request):
            request.parser_context = {}
    for value in _serialized(getattr(response, "data", None)):
        serializer = value.serializer
        value.serializer = None
        release_serializer(serializer)


def release_filterset(filterset: Any) -> None:
    """Once a filterset has filtered: its filters point back at it (`parent`, which a method
    filter follows to find its method), a method filter's FilterMethod back at the filter,
    its bound form's fields at the form, and a choice field's choices at the field."""
    if not enabled("cycles"):
        return
    form = filterset.__dict__.get("_form")
    if form is not None:
        form._bound_fields_cache = {}
        for field in form.fields.values():
            # django-filter's choice fields and their choices point at each other.
            choices = field.__dict__.get("_choices")
            if isinstance(choices, ChoiceIterator):
                choices.field = None
    for each in filterset.filters.values():
        each.parent = None
        # A filter with `method=` holds a FilterMethod that points back at the filter.
        if isinstance(each.__dict__.get("filter"), FilterMethod):
            del each.filter


def _serialized(data: Any) -> Iterator[Any]:
    """The serializer outputs (`ReturnList`, `ReturnDict`) in a response's data: the data
    itself, or a value of the envelope a list answers with."""
    if hasattr(data, "serializer"):
        yield data
    if isinstance(data, dict):
        yield from (value for value in data.values() if hasattr(value, "serializer"))


def release_serializer(serializer: Any) -> None:
    """Cuts a serializer from its bound fields and a list serializer from its child; the
    fields are bound again if they are asked for."""
    if not enabled("cycles"):
        return
    child = getattr(serializer, "child", None)
    for each in (serializer, child):
        if each is None:
            continue
        # The bound fields point back at their serializer (`parent`, and the BindingDict's
        # `serializer`); dropping the cached dict leaves nothing pointing at them.
        each.__dict__.pop("fields", None)
        each.parent = None
    if child is not None:
        serializer.child = None
