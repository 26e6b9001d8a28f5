"""DRF and django-filter without the per-request work whose result never changes.

- `ReusedPolicies` (for API views): DRF makes a new parser, renderer, authenticator and
  permission object per request; they keep no state, so each view class makes its own once
  (again if its classes change). A request with no Accept, or `*/*`, gets the first renderer
  without the header being parsed, as DRF's negotiation would choose.
- `PlannedRepresentation` (for output serializers): DRF renders each row by walking its bound
  fields (a deep copy of them per serializer, `get_attribute` and `to_representation` per
  field). When every field is a plain attribute rendered by its value alone, or a
  `SerializerMethodField`, the plan — (name, attribute, the field's own to_representation, or
  the method's name) — is built once per class and each row is one dict comprehension: the
  same output, through the same field and serializer methods, without the walk. Anything else
  (nested or related serializers, dotted sources) keeps DRF's path. A serializer of plain
  fields also renders `QuerySet.values()` rows (`value_sources`), so a list can skip building a
  model instance per row.
- `OneFormClass` (for filtersets): django-filter makes a new form class for every filterset,
  so for every filtered request: a class is a reference cycle (`portal.fastpaths.cycles`), and
  making one costs too. Its fields come from the filters' declarations alone unless a filter's
  choices depend on the request (a model choice filter with a callable queryset), so each
  filterset class makes its form class once; one with such a filter makes it per request.
- `SkipUnusedFilters` (for the filter backend): no filterset is built for a request that
  names none of its parameters; a filterset with no data filters nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import django_filters
from rest_framework import serializers
from rest_framework.request import Request

from portal.fastpaths import enabled


class ReusedPolicies:
    _policy_objects: ClassVar[dict[tuple[type, str], tuple[tuple[Any, ...], list[Any]]]] = {}

    def _policy(self, kind: str, classes: Any) -> list[Any]:
        key, wanted = (type(self), kind), tuple(classes)
        made = ReusedPolicies._policy_objects.get(key)
        if made is None or made[0] != wanted:
            made = ReusedPolicies._policy_objects[key] = (wanted, [cls() for cls in wanted])
        return made[1]

    def get_parsers(self) -> list[Any]:
        if not enabled("drf"):
            return super().get_parsers()  # type: ignore[misc,no-any-return]
        return self._policy("parsers", self.parser_classes)  # type: ignore[attr-defined]

    def get_renderers(self) -> list[Any]:
        if not enabled("drf"):
            return super().get_renderers()  # type: ignore[misc,no-any-return]
        return self._policy("renderers", self.renderer_classes)  # type: ignore[attr-defined]

    def get_authenticators(self) -> list[Any]:
        if not enabled("drf"):
            return super().get_authenticators()  # type: ignore[misc,no-any-return]
        return self._policy("authenticators", self.authentication_classes)  # type: ignore[attr-defined]

    def get_permissions(self) -> list[Any]:
        if not enabled("drf"):
            return super().get_permissions()  # type: ignore[misc,no-any-return]
        return self._policy("permissions", self.permission_classes)  # type: ignore[attr-defined]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if enabled("drf") and accept == "*/*" and getattr(self, "format_kwarg", None) is None:
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)  # type: ignore[misc]


# Fields whose output depends only on the value (never on the request or the parent).
PLAIN_FIELDS = (
    serializers.CharField,
    serializers.UUIDField,
    serializers.IntegerField,
    serializers.FloatField,
    serializers.BooleanField,
    serializers.ChoiceField,
    serializers.DateTimeField,
    serializers.ReadOnlyField,
)
# (output name, model attribute, the field's to_representation or None, the serializer's
# method for a SerializerMethodField or None)
ReadPlan = list[tuple[str, str, Callable[[Any], Any] | None, str | None]]


class PlannedRepresentation:
    _read_plans: ClassVar[dict[type, ReadPlan | None]] = {}

    def _read_plan(self) -> ReadPlan | None:
        if not enabled("drf"):
            return None
        cls = type(self)
        if cls not in PlannedRepresentation._read_plans:
            plan: ReadPlan = []
            for field in self._readable_fields:  # type: ignore[attr-defined]
                name = str(field.field_name)
                if isinstance(field, serializers.SerializerMethodField):
                    plan.append((name, "*", None, str(field.method_name)))
                elif isinstance(field, PLAIN_FIELDS) and len(field.source_attrs) == 1:
                    plan.append((name, str(field.source), field.to_representation, None))
                else:
                    PlannedRepresentation._read_plans[cls] = None  # DRF's own path
                    break
            else:
                PlannedRepresentation._read_plans[cls] = plan
        return PlannedRepresentation._read_plans[cls]

    def value_sources(self) -> list[str] | None:
        """The model attributes this serializer reads, when it can render `values()` rows
        (plain fields only: a method is given the model instance); None otherwise, and with
        the shortcuts off."""
        plan = self._read_plan()
        if plan is None or any(method for _, _, _, method in plan):
            return None
        return [source for _, source, _, _ in plan]

    def to_representation(self, instance: Any) -> Any:
        plan = self._read_plan()
        if plan is None:
            return super().to_representation(instance)  # type: ignore[misc]
        if isinstance(instance, dict):
            return {
                name: None if (value := instance[source]) is None else render(value)  # type: ignore[misc]
                for name, source, render, _ in plan
            }
        return {
            name: getattr(self, method)(instance)
            if method
            else None
            if (value := getattr(instance, source)) is None
            else render(value)  # type: ignore[misc]
            for name, source, render, method in plan
        }


class OneFormClass:
    _form_classes: ClassVar[dict[type, Any]] = {}

    def get_form_class(self) -> Any:
        if not enabled("drf") or any(
            isinstance(each, django_filters.filters.QuerySetRequestMixin)
            for each in self.filters.values()  # type: ignore[attr-defined]
        ):
            return super().get_form_class()  # type: ignore[misc]
        made = OneFormClass._form_classes.get(type(self))
        if made is None:
            made = OneFormClass._form_classes[type(self)] = super().get_form_class()  # type: ignore[misc]
        return made


class SkipUnusedFilters:
    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        if enabled("drf"):
            filterset_class = self.get_filterset_class(view, queryset)  # type: ignore[attr-defined]
            if filterset_class is not None and not any(
                name in request.query_params for name in filterset_class.base_filters
            ):
                return queryset
        return super().filter_queryset(request, queryset, view)  # type: ignore[misc]
