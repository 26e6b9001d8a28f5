"""Settings for the test suite: the real settings, with what only tests want.

Database and cache still come from the environment, so `make test` runs on SQLite and again on
PostgreSQL + Redis. Servers the live tests start run the real `portal.config.settings`.
"""

from __future__ import annotations

from portal.config.settings import *  # noqa: F403 - the real settings, then the overrides below

# Hashing passwords slowly is the point in production and a waste in tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run inside a transaction that never commits, so cached totals would never be retired;
# tests/portal/test_list_totals.py turns the cache on and runs the commit hooks.
LIST_COUNT_CACHE_SECONDS = 0
# Tests flush the embedded metrics store themselves: a background thread would write outside
# the test's transaction.
METRICS_FLUSH_SECONDS = 0
# The suite's transactions are invisible to other threads: console actions run inline.
ROLLOUT_ACTIONS_IN_BACKGROUND = False
# Where a developer's `make run` listens is not the tests' business.
ROLLOUT_CANARY_URL = (
    env.get_url(  # noqa: F405
        "CANARY_URL", ("http", "https")
    )
    or "http://127.0.0.1:8000"
)
ROLLOUT_STABLE_URL = (
    env.get_url(  # noqa: F405
        "STABLE_URL", ("http", "https")
    )
    or ROLLOUT_CANARY_URL
)
# How full the test machine's disk is is not the tests' business; tests/files/test_quotas.py
# sets the floor against the real disk.
STORAGE_MIN_FREE_BYTES = 0
