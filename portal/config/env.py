"""Typed readers for environment variables that fail loudly on a bad value."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_RATE = re.compile(r"^(?P<count>[1-9][0-9]*)/(?P<unit>[smhd])$")


class Env:
    """Reads settings from a mapping (os.environ by default).

    Every reader raises ImproperlyConfigured naming the variable when its value cannot be
    used, so a typo stops the process at start-up instead of surfacing as odd behaviour.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self._raw(name)
        return default if value is None else value

    def get_bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")

    def get_int(
        self,
        name: str,
        default: int,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
        return number

    def get_float(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
        if number != number or (minimum is not None and number < minimum):
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value!r}")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
        return number

    def get_list(self, name: str, default: str = "") -> list[str]:
        value = self._raw(name)
        raw = default if value is None else value
        return [item.strip() for item in raw.split(",") if item.strip()]

    def get_rate(self, name: str, default: str) -> str:
        """A django-ratelimit style rate such as ``60/m``."""
        value = self._raw(name) or default
        if not _RATE.match(value):
            raise ImproperlyConfigured(f"{name} must look like 60/m (count/s|m|h|d), got {value!r}")
        return value

    def get_choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._raw(name) or default
        if value not in choices:
            raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def get_url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        if "://" not in value or value.split("://", 1)[0] not in schemes:
            raise ImproperlyConfigured(
                f"{name} must be a URL with scheme {' or '.join(schemes)}, got {value!r}"
            )
        return value
