"""Settings of the naive DRF peer (bench/naive.py): the project's models and database, Django's
default middleware, DRF with JSON only and LimitOffsetPagination. Never serves users."""

from __future__ import annotations

from portal.config.settings import *  # noqa: F403
from portal.config.settings import DATABASES as _DATABASES

ROOT_URLCONF = "bench.naive"
# Django's own backend, with the project's connection settings (persistent, health-checked,
# the same timeouts): not the API's (portal/db/postgresql), nor django-prometheus's metrics.
_engine = str(_DATABASES["default"]["ENGINE"])
_engine = _engine.replace("portal.db.postgresql", "django.db.backends.postgresql")
_DATABASES["default"]["ENGINE"] = _engine.replace("django_prometheus.db.", "django.db.")
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "PAGE_SIZE": 20,
}
# A typical project logs warnings and errors, not every request.
LOGGING = {"version": 1, "disable_existing_loggers": False}
