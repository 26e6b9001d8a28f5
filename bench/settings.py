"""The benchmark's ceiling: the same project, models and database, with no middleware and
plain Django views instead of DRF (bench/urls.py). Never used to serve users."""

from __future__ import annotations

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
MIDDLEWARE = []
