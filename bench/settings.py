"""The benchmark's ceiling: the same project, models and database, with no middleware and
plain Django views instead of DRF (bench/urls.py). Never used to serve users."""

from __future__ import annotations

from portal.config.settings import *  # noqa: F403
from portal.config.settings import DATABASES as _DATABASES

ROOT_URLCONF = "bench.urls"
MIDDLEWARE = []
# Django's own backend, with the project's connection settings (persistent, health-checked,
# the same timeouts): not the API's (portal/db/postgresql, portal/db/sqlite3), nor
# django-prometheus's metrics.
_engine = str(_DATABASES["default"]["ENGINE"])
_engine = _engine.replace("portal.db.postgresql", "django.db.backends.postgresql")
_engine = _engine.replace("portal.db.sqlite3", "django.db.backends.sqlite3")
_DATABASES["default"]["ENGINE"] = _engine.replace("django_prometheus.db.", "django.db.")
