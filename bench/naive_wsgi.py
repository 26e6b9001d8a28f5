"""WSGI entry point of the naive DRF benchmark peer (`make bench` only)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.naive_settings")
application = get_wsgi_application()
