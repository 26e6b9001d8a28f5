"""Settings from the environment: defaults, parsing, and loud failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.config.env import Env

ROOT = Path(__file__).resolve().parents[2]


def test_booleans_accept_only_true_or_false_words() -> None:
    env = Env({"A": "true", "B": "0", "C": "maybe"})
    assert env.get_bool("A", False) is True
    assert env.get_bool("B", True) is False
    assert env.get_bool("MISSING", True) is True
    with pytest.raises(ImproperlyConfigured, match="C must be true or false"):
        env.get_bool("C", False)


def test_integers_are_parsed_and_bounded() -> None:
    env = Env({"N": "900", "BIG": "901", "X": "ten"})
    assert env.get_int("N", 1, maximum=900) == 900
    with pytest.raises(ImproperlyConfigured, match="at most 900"):
        env.get_int("BIG", 1, maximum=900)
    with pytest.raises(ImproperlyConfigured, match="X must be an integer"):
        env.get_int("X", 1)


def test_lists_rates_urls_and_choices() -> None:
    env = Env({"L": " a, b ,,c", "R": "60/m", "BAD_R": "60 per minute", "U": "mysql://x"})
    assert env.get_list("L") == ["a", "b", "c"]
    assert env.get_list("NONE", "x,y") == ["x", "y"]
    assert env.get_rate("R", "1/s") == "60/m"
    with pytest.raises(ImproperlyConfigured):
        env.get_rate("BAD_R", "1/s")
    with pytest.raises(ImproperlyConfigured):
        env.get_url("U", ("postgres",))
    with pytest.raises(ImproperlyConfigured):
        Env({"C": "s3x"}).get_choice("C", "local", ("local", "s3"))


def settings_in_subprocess(**env: str) -> dict[str, object]:
    """Imports the settings module fresh, with exactly the given variables set."""
    code = (
        "import json, django; from django.conf import settings as s; django.setup();"
        "db = s.DATABASES['default'];"
        "print(json.dumps({'engine': db['ENGINE'], 'opts': db.get('OPTIONS', {}),"
        " 'age': db.get('CONN_MAX_AGE'), 'health': db.get('CONN_HEALTH_CHECKS'),"
        " 'cache': s.CACHES['default']['BACKEND'], 'debug': s.DEBUG,"
        " 'version': s.APP_VERSION, 'ttl': s.SIGNED_URL_TTL_SECONDS}))"
    )
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "portal.config.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_nothing_set_means_sqlite_local_cache_and_no_debug() -> None:
    config = settings_in_subprocess()
    assert config["engine"] == "portal.db.sqlite3"
    assert config["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert config["debug"] is False
    assert config["ttl"] == 900


def test_postgres_gets_persistent_checked_connections_and_timeouts() -> None:
    config = settings_in_subprocess(
        DATABASE_URL="postgres://u:p@db.internal:5432/portal",
        REDIS_URL="redis://127.0.0.1:6379/0",
        APP_VERSION="2.0.0",
    )
    assert config["engine"] == "portal.db.postgresql"
    assert config["health"] is True
    assert isinstance(config["age"], int)
    assert config["age"] > 0
    opts = config["opts"]
    assert isinstance(opts, dict)
    assert opts["connect_timeout"] <= 5
    assert "statement_timeout" in opts["options"]
    assert config["cache"] == "django_redis.cache.RedisCache"
    assert config["version"] == "2.0.0"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "yes please"}, "DEBUG must be true or false"),
        ({"SIGNED_URL_TTL_SECONDS": "3600"}, "SIGNED_URL_TTL_SECONDS must be at most 900"),
        ({"RATE_LIMIT_FILES": "lots"}, "RATE_LIMIT_FILES must look like"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be a URL"),
        ({"PORTAL_ENV": "production"}, "SECRET_KEY is required"),
        ({"PORTAL_ENV": "production", "SECRET_KEY": "short"}, "at least 50 characters"),
        ({"FILE_STORAGE": "s3"}, "needs AWS_STORAGE_BUCKET_NAME"),
        (
            {"FILE_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_CUSTOM_DOMAIN": "cdn.x"},
            "AWS_S3_CUSTOM_DOMAIN makes unsigned file URLs",
        ),
        (
            {"FILE_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_QUERYSTRING_AUTH": "false"},
            "unsigned file URLs",
        ),
        ({"WEB_CONCURRENCY": "2", "TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT"),
    ],
)
def test_bad_values_stop_the_process(env: dict[str, str], message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        settings_in_subprocess(**env)
