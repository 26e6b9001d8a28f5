"""Django settings for Portal API, read from the environment (docs/configuration.md)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal import __version__
from portal.config import rollouts
from portal.config.env import Env

BASE_DIR = Path(__file__).resolve().parents[2]
env = Env()

# "production" refuses unsafe configuration; "development" (the default) fills in safe local
# defaults so `make run` works with nothing set.
PORTAL_ENV = env.get_choice("PORTAL_ENV", "development", ("development", "production", "test"))
PRODUCTION = PORTAL_ENV == "production"

DEBUG = env.get_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false when PORTAL_ENV=production")


def _dev_secret_key() -> str:
    # Every gunicorn worker must sign with the same key, so the generated key is kept in a
    # git-ignored file rather than regenerated per process.
    path = BASE_DIR / "var" / "dev-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


_secret = env.get_str("SECRET_KEY")
if _secret is None:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when PORTAL_ENV=production")
    _secret = _dev_secret_key()
elif PRODUCTION and len(_secret) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")
SECRET_KEY: str = _secret

ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
APP_VERSION = env.get_str("APP_VERSION", __version__) or __version__

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_prometheus",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
    "contacts",
    "jobs",
    "files",
    "ops",
    "demo",
]

# Order matters; docs/architecture.md, "How a request flows", walks through it.
MIDDLEWARE = [
    "portal.observability.request_context.RequestContextMiddleware",
    # High up, so every answer below it (401, 429, a breaker's 503) carries CORS headers.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.http.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    # STAFF_MIDDLEWARE, below, for everything but the token API.
    "portal.http.staff.StaffPagesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.resilience.database_breaker.DatabaseBreakerMiddleware",
    # No django-prometheus request middleware: its django_http_* families counted every
    # request a second time (our http_* series already do, per route and version), at a cost
    # on every request. Its database, model and migration metrics stay.
]

# Run by portal.http.staff for the admin, the console and the other pages, in this order;
# the token API (/v1/, /metrics) never reads a session.
STAFF_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
# The admin's and Django's CSRF checks for those look only at MIDDLEWARE; portal.E001-E002
# check them where they are.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "security.W003"]

FAULT_INJECTION = env.get_bool("FAULT_INJECTION", False)
if FAULT_INJECTION:
    if PRODUCTION:
        raise ImproperlyConfigured("FAULT_INJECTION must not be enabled in production")
    # Right inside the request context, so injected delays and failures are measured.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("portal.observability.request_context.RequestContextMiddleware") + 1,
        "portal.resilience.faults.FaultInjectionMiddleware",
    )


def _endpoint_numbers(name: str, unit: str, example: str, top: float | None) -> dict[str, float]:
    """Parses "ENDPOINT=NUMBER,…" (only with FAULT_INJECTION); each number at least 0, at most
    `top` when given."""
    found: dict[str, float] = {}
    for item in env.get_list(name, "") if FAULT_INJECTION else []:
        endpoint, _, number = item.partition("=")
        try:
            value = float(number)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not ENDPOINT={unit} (e.g. {example})"
            ) from None
        if value < 0 or (top is not None and value > top):
            limit = f"from 0 to {top:g}" if top is not None else "0 or more"
            raise ImproperlyConfigured(f"{name}: the {unit.lower()} in {item!r} must be {limit}")
        found[endpoint.strip()] = value
    return found


# A standing slowdown of this instance, for rehearsals and judge tests (e.g. "/v*/contacts=1.3":
# that route takes 30 % longer).
FAULT_SLOWDOWN = _endpoint_numbers("FAULT_SLOWDOWN", "FACTOR", "/v*/contacts=1.3", None)
# A standing failure rate, for `make canary BROKEN=1` and tests (e.g. "/v*/contacts=0.3": 30 % of
# that route's requests answer 500).
FAULT_ERRORS = _endpoint_numbers("FAULT_ERRORS", "SHARE", "/v*/contacts=0.3", 1)

ROOT_URLCONF = "portal.config.urls"
# The staff console (/ops/) signs in through the admin's login page.
LOGIN_URL = "admin:login"
WSGI_APPLICATION = "portal.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.get_url("DATABASE_URL", ("sqlite", "postgres", "postgresql")) or (
    f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
)
_db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL))
if _db["ENGINE"].endswith(".postgresql"):
    # Persistent connections, checked before reuse, with short connect and statement limits so
    # a sick database turns into a fast error instead of a hung worker.
    _db["CONN_MAX_AGE"] = env.get_int("DB_CONN_MAX_AGE", 300, minimum=0)
    _db["CONN_HEALTH_CHECKS"] = True
    statement_timeout_ms = env.get_int("DB_STATEMENT_TIMEOUT_MS", 5000, minimum=100)
    _db["OPTIONS"] = {
        "connect_timeout": env.get_int("DB_CONNECT_TIMEOUT", 3, minimum=1),
        "options": f"-c statement_timeout={statement_timeout_ms}",
    }
else:
    # WAL lets several gunicorn workers read while one writes; IMMEDIATE transactions take the
    # write lock up front so concurrent writers queue instead of failing with "database locked".
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file too: an in-memory database locks whole tables across threads, unlike
    # the file the server uses, where IMMEDIATE transactions queue for the write lock.
    _db["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}
# django-prometheus's wrappers of the same backends add its database metrics, and the
# project's wrap those again: on PostgreSQL a cheaper reuse check and timestamp decoding
# (portal/db/postgresql), on SQLite one cursor class instead of one per cursor (portal/db/sqlite3).
_db["ENGINE"] = _db["ENGINE"].replace("django.db.backends.", "django_prometheus.db.backends.")
if _db["ENGINE"].endswith(".postgresql"):
    _db["ENGINE"] = "portal.db.postgresql"
elif _db["ENGINE"].endswith(".sqlite3"):
    _db["ENGINE"] = "portal.db.sqlite3"
DATABASES = {"default": _db}
# A read replica of `default` (PostgreSQL streaming replication): the API's tenant reads go
# there, writes and everything else stay on the primary (portal/db/replica.py says which).
DATABASE_REPLICA_URL = env.get_url("DATABASE_REPLICA_URL", ("postgres", "postgresql"))
if DATABASE_REPLICA_URL:
    if not _db["ENGINE"].endswith(".postgresql"):
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL too")
    _replica: dict[str, Any] = {
        **dict(dj_database_url.parse(DATABASE_REPLICA_URL)),
        "ENGINE": _db["ENGINE"],
        "CONN_MAX_AGE": _db["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": _db["OPTIONS"],
        # Tests read the replica through the primary's test database.
        "TEST": {"MIRROR": "default"},
    }
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["portal.db.replica.ReplicaRouter"]
# After a write, the tenant's reads stay on the primary this long (longer than replication
# lag), and a replica that failed is skipped by that worker this long.
REPLICA_PIN_SECONDS = env.get_int("REPLICA_PIN_SECONDS", 10, minimum=1)
REPLICA_RETRY_SECONDS = env.get_int("REPLICA_RETRY_SECONDS", 30, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env.get_url("REDIS_URL", ("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES: dict[str, Any] = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "portal",
        }
    }
# Rate-limit counters and breaker state: the default cache behind the cache breaker, with a
# process-local fallback (portal/resilience/cache.py).
CACHES["shared"] = {
    "BACKEND": "portal.resilience.cache.FailoverCache",
    "OPTIONS": {"PRIMARY": "default"},
}

# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.get_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
if not PRODUCTION:
    # Whitenoise warns on every start when the collectstatic target is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env.get_str("MEDIA_ROOT") or BASE_DIR / "media")
FILE_STORAGE = env.get_choice("FILE_STORAGE", "local", ("local", "s3"))
_default_storage: dict[str, Any] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if FILE_STORAGE == "s3":
    _bucket = env.get_str("AWS_STORAGE_BUCKET_NAME")
    if not _bucket:
        raise ImproperlyConfigured("FILE_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME")
    if env.get_str("AWS_S3_CUSTOM_DOMAIN"):
        # django-storages builds plain, unsigned URLs for a custom domain: every file would be
        # public for as long as its name is known.
        raise ImproperlyConfigured(
            "AWS_S3_CUSTOM_DOMAIN makes unsigned file URLs; job files must use presigned URLs"
        )
    if not env.get_bool("AWS_QUERYSTRING_AUTH", True):
        raise ImproperlyConfigured("AWS_QUERYSTRING_AUTH=false makes unsigned file URLs")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "region_name": env.get_str("AWS_S3_REGION_NAME"),
            "endpoint_url": env.get_url("AWS_S3_ENDPOINT_URL", ("http", "https")),
            "querystring_auth": True,
            "file_overwrite": False,
            "default_acl": None,
            "signature_version": "s3v4",
            "addressing_style": env.get_str("AWS_S3_ADDRESSING_STYLE"),
            "location": env.get_str("AWS_S3_LOCATION") or "",
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Whitenoise serves the admin's and the docs page's assets from the app directories in
# development, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Performance shortcuts -----------------------------------------------------------------
# Every shortcut that reaches into framework internals lives in portal/fastpaths/; off serves
# every request through the stock Django, DRF, django-filter and django-ratelimit paths.
FAST_PATHS = env.get_bool("FAST_PATHS", True)
# Shortcuts kept off by name while the rest stay on (to measure what each is worth).
FAST_PATH_NAMES = ("prepared", "drf", "cycles", "backends", "ratelimit", "shared_reads")
FAST_PATHS_EXCEPT = frozenset(env.get_list("FAST_PATHS_EXCEPT", ""))
if FAST_PATHS_EXCEPT - set(FAST_PATH_NAMES):
    raise ImproperlyConfigured(
        f"FAST_PATHS_EXCEPT: unknown {', '.join(sorted(FAST_PATHS_EXCEPT - set(FAST_PATH_NAMES)))}"
        f" (known: {', '.join(FAST_PATH_NAMES)})"
    )

# --- API behaviour --------------------------------------------------------------------------
PROBLEM_BASE_URL = (env.get_str("PROBLEM_BASE_URL") or "https://portal.example.com").rstrip("/")
PUBLIC_BASE_URL = (env.get_str("PUBLIC_BASE_URL") or "").rstrip("/")
RATE_LIMIT_DEFAULT = env.get_rate("RATE_LIMIT_DEFAULT", "60/m")
RATE_LIMIT_FILES = env.get_rate("RATE_LIMIT_FILES", "120/m")
RATE_LIMITS = {"default": RATE_LIMIT_DEFAULT, "files": RATE_LIMIT_FILES}
RATELIMIT_USE_CACHE = "shared"
# Only reached if a counter vanishes between add and incr; the failover cache already keeps
# counting locally when Redis is down.
RATELIMIT_FAIL_OPEN = True
TRUSTED_PROXY_COUNT = env.get_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
BREAKER_FAIL_MAX = env.get_int("BREAKER_FAIL_MAX", 5, minimum=1)
# The first trial comes BREAKER_FIRST_RESET_SECONDS after a breaker opens; each failed trial
# doubles the wait, up to BREAKER_RESET_TIMEOUT.
BREAKER_FIRST_RESET_SECONDS = env.get_int("BREAKER_FIRST_RESET_SECONDS", 2, minimum=1)
BREAKER_RESET_TIMEOUT = env.get_int("BREAKER_RESET_TIMEOUT", 10, minimum=1)
# List totals are cached this long, and retired at once by any write through the app
# (portal/http/totals.py); 0 counts on every request.
# Resolved tokens kept per worker (portal/tenancy/tokens.py); revocation reaches every worker at
# once through a generation in the shared cache. 0 turns the cache off.
TOKEN_CACHE_SIZE = env.get_int("TOKEN_CACHE_SIZE", 10000, minimum=0)
TOKEN_CACHE_SECONDS = env.get_int("TOKEN_CACHE_SECONDS", 60, minimum=1)
LIST_COUNT_CACHE_SECONDS = env.get_int("LIST_COUNT_CACHE_SECONDS", 10, minimum=0, maximum=3600)
# How long a worker trusts the breaker state it last read from the shared cache (0: never).
BREAKER_STATE_CACHE_MS = env.get_int("BREAKER_STATE_CACHE_MS", 1000, minimum=0, maximum=10000)
# Signed download links live at most 15 minutes, whatever is configured.
SIGNED_URL_TTL_MAX = 900
SIGNED_URL_TTL_SECONDS = env.get_int(
    "SIGNED_URL_TTL_SECONDS", SIGNED_URL_TTL_MAX, minimum=1, maximum=SIGNED_URL_TTL_MAX
)
FILE_UPLOAD_MAX_BYTES = env.get_int("FILE_UPLOAD_MAX_BYTES", 25 * 1024 * 1024, minimum=1)
# Every schema change on PostgreSQL runs under these (portal/db/postgresql/schema.py): a DDL
# statement waits at most MIGRATION_LOCK_TIMEOUT for its lock and runs at most
# MIGRATION_STATEMENT_TIMEOUT (CREATE INDEX CONCURRENTLY excepted). PostgreSQL durations.
MIGRATION_LOCK_TIMEOUT = env.get_str("MIGRATION_LOCK_TIMEOUT") or "5s"
MIGRATION_STATEMENT_TIMEOUT = env.get_str("MIGRATION_STATEMENT_TIMEOUT") or "60s"
# `make canary MIGRATION=…`: the canary's process alone gets the demo app's migrations of that
# name (demo/schema_breaking, demo/schema_expand), as a newer release's code would have them.
DEMO_MIGRATIONS = env.get_choice("DEMO_MIGRATIONS", "", ("", "breaking", "expand"))
if DEMO_MIGRATIONS:
    MIGRATION_MODULES = {"demo": f"demo.schema_{DEMO_MIGRATIONS}"}
# What a tenant on no plan may store (files/quotas.py); 0 means no limit. Plans and tenants
# set their own in the admin.
STORAGE_QUOTA_BYTES = env.get_int("STORAGE_QUOTA_BYTES", 10 * 1024**3, minimum=0)
STORAGE_QUOTA_FILES = env.get_int("STORAGE_QUOTA_FILES", 10_000, minimum=0)
# Local storage refuses an upload (507) that would leave less than this free on its disk, so
# the disk never fills and the storage breaker never opens for every tenant. The default
# covers every request slot of a default deployment (2 workers x 4 threads) uploading at once.
STORAGE_MIN_FREE_BYTES = env.get_int("STORAGE_MIN_FREE_BYTES", 512 * 1024**2, minimum=0)
# JSON bodies and non-file form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.get_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024, minimum=1024)
METRICS_TOKEN = env.get_str("METRICS_TOKEN")
# The rollout controller's settings, read in their own module (portal/config/rollouts.py).
ROLLOUT_CANARY_URL = rollouts.ROLLOUT_CANARY_URL
ROLLOUT_STABLE_URL = rollouts.ROLLOUT_STABLE_URL
ROLLOUT_PROBE_TIMEOUT = rollouts.ROLLOUT_PROBE_TIMEOUT
ROLLOUT_NOTIFIERS = rollouts.ROLLOUT_NOTIFIERS
ROLLOUT_WATCH_HOURS = rollouts.ROLLOUT_WATCH_HOURS
ROLLOUT_WATCH_INTERVAL_SECONDS = rollouts.ROLLOUT_WATCH_INTERVAL_SECONDS
ROLLOUT_WEBHOOK_URL = rollouts.ROLLOUT_WEBHOOK_URL
ROLLOUT_STABLE_UPSTREAM = rollouts.ROLLOUT_STABLE_UPSTREAM
ROLLOUT_CANARY_UPSTREAM = rollouts.ROLLOUT_CANARY_UPSTREAM
NGINX_UPSTREAM_FILE = rollouts.NGINX_UPSTREAM_FILE
NGINX_UPSTREAM_NAME = rollouts.NGINX_UPSTREAM_NAME
NGINX_TEST_COMMAND = rollouts.NGINX_TEST_COMMAND
NGINX_RELOAD_COMMAND = rollouts.NGINX_RELOAD_COMMAND
ALB_LISTENER_ARN = rollouts.ALB_LISTENER_ARN
ALB_STABLE_TARGET_GROUP_ARN = rollouts.ALB_STABLE_TARGET_GROUP_ARN
ALB_CANARY_TARGET_GROUP_ARN = rollouts.ALB_CANARY_TARGET_GROUP_ARN
AWS_ALB_REGION = rollouts.AWS_ALB_REGION
ROLLOUT_MAX_PROBE_ERRORS = rollouts.ROLLOUT_MAX_PROBE_ERRORS
ROLLOUT_GUARD_MAX_ERROR_RATE = rollouts.ROLLOUT_GUARD_MAX_ERROR_RATE
ROLLOUT_GUARD_WINDOW_SECONDS = rollouts.ROLLOUT_GUARD_WINDOW_SECONDS
ROLLOUT_GUARD_MIN_SAMPLES = rollouts.ROLLOUT_GUARD_MIN_SAMPLES
ROLLOUT_ACTIONS_IN_BACKGROUND = rollouts.ROLLOUT_ACTIONS_IN_BACKGROUND
ROLLOUT_INTENT_GRACE_SECONDS = rollouts.ROLLOUT_INTENT_GRACE_SECONDS
ROLLOUT_DRIVER_TIMEOUT_SECONDS = rollouts.ROLLOUT_DRIVER_TIMEOUT_SECONDS
ROLLOUT_PAUSE_DEADLINE_SECONDS = rollouts.ROLLOUT_PAUSE_DEADLINE_SECONDS
ROLLOUT_CONTROLLER_STALE_SECONDS = rollouts.ROLLOUT_CONTROLLER_STALE_SECONDS
ROLLOUT_TOPUP_REQUESTS = rollouts.ROLLOUT_TOPUP_REQUESTS
ROLLOUT_TOPUP_RATE = rollouts.ROLLOUT_TOPUP_RATE

METRICS_STORE_ENABLED = env.get_bool("METRICS_STORE_ENABLED", True)
METRICS_FLUSH_SECONDS = env.get_int("METRICS_FLUSH_SECONDS", 5, minimum=0)
METRICS_BUFFER_MINUTES = env.get_int("METRICS_BUFFER_MINUTES", 60, minimum=1)
METRICS_RETENTION_DAYS = env.get_int("METRICS_RETENTION_DAYS", 35, minimum=1)
PROMETHEUS_URL = env.get_url("PROMETHEUS_URL", ("http", "https"))
CORS_ALLOWED_ORIGINS = env.get_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/v1/.*$"
CORS_EXPOSE_HEADERS = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "X-Request-Id",
    "X-Trace-Id",
]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "x-request-id",
    "x-trace-id",
    "traceparent",
]
CORS_PREFLIGHT_MAX_AGE = 600

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.tenancy.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["portal.tenancy.auth.IsTenantMember"],
    "DEFAULT_RENDERER_CLASSES": ["portal.http.views.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["portal.http.views.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.http.pagination.EnvelopePagination",
    "DEFAULT_SCHEMA_CLASS": "portal.http.openapi.PortalAutoSchema",
    "EXCEPTION_HANDLER": "portal.http.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "PAGE_SIZE": 20,
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Portal API",
    "DESCRIPTION": (
        "Tenants' contacts, jobs and job files. Every error is an RFC 9457 problem document "
        "(`application/problem+json`)."
    ),
    "VERSION": APP_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "jobs.models.JobStatus"},
    "SCHEMA_PATH_PREFIX": r"/v[0-9]+",
}

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Off only for a local stack over plain HTTP (docker-compose.yml).
    SESSION_COOKIE_SECURE = env.get_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env.get_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.get_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers and Prometheus talk plain HTTP to the pods.
    SECURE_REDIRECT_EXEMPT = [r"^v1/health$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS")
# Error reports (the DEBUG page, admin mails) never show connection strings or tokens.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.config.debug.SecretsFilter"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logging --------------------------------------------------------------------------------
LOG_FORMAT = env.get_choice("LOG_FORMAT", "text" if not PRODUCTION else "json", ("text", "json"))
LOG_LEVEL = env.get_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "portal.observability.request_context.RequestContextLogFilter"},
        "bounded": {"()": "portal.observability.request_context.BoundedLogFilter"},
    },
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(trace_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {
                "asctime": "timestamp",
                "levelname": "level",
                "name": "logger",
            },
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["bounded", "request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The request log line of portal.request replaces Django's own 4xx/5xx warnings.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
    },
}
CSRF_FAILURE_VIEW = "portal.http.problems.csrf_failure"
# Sign-in attempts on /admin/login/, per client address and per username (django-ratelimit).
ADMIN_LOGIN_RATE = env.get_rate("ADMIN_LOGIN_RATE", "10/m")
# Refused METRICS_TOKEN attempts per client address; past it /metrics answers 429 unchecked.
METRICS_AUTH_RATE = env.get_rate("METRICS_AUTH_RATE", "10/m")
