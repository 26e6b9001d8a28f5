"""The rollout controller's settings: where it finds the two lanes, how it moves traffic
(nginx or an ALB), its guard, its deadlines and its notifiers. Read into the settings by
`portal.config.settings`; the operator guide (docs/operator/) says what each does."""

from __future__ import annotations

import os
from pathlib import Path

from portal.config import local_servers
from portal.config.env import Env

BASE_DIR = Path(__file__).resolve().parents[2]
env = Env()
PRODUCTION = env.get_str("PORTAL_ENV") == "production"

# Where the rollout controller's probes reach the canary and the stable deployment.
# Unset, a local install finds the servers `make run` / `make canary` recorded as they started
# (so `rollout tick` from another shell needs no PORT), else PORT (default 8000).
_port = env.get_int("PORT", 8000)
_local = {} if PRODUCTION or "PORT" in os.environ else local_servers.recorded(BASE_DIR)
_local_stable = _local.get("stable", f"http://127.0.0.1:{_port}")
_canary_env = env.get_url("CANARY_URL", ("http", "https"))
ROLLOUT_CANARY_URL = (_canary_env or _local.get("canary") or _local_stable).rstrip("/")
ROLLOUT_STABLE_URL = (
    env.get_url("STABLE_URL", ("http", "https"))
    or (_local_stable if not _canary_env and "canary" in _local else ROLLOUT_CANARY_URL)
).rstrip("/")
ROLLOUT_PROBE_TIMEOUT = env.get_int("ROLLOUT_PROBE_TIMEOUT", 5, minimum=1)
ROLLOUT_NOTIFIERS = env.get_list("ROLLOUT_NOTIFIERS", "log,status")
ROLLOUT_WATCH_HOURS = env.get_int("ROLLOUT_WATCH_HOURS", 24, minimum=0)
ROLLOUT_WATCH_INTERVAL_SECONDS = env.get_int("ROLLOUT_WATCH_INTERVAL_SECONDS", 300, minimum=0)
ROLLOUT_WEBHOOK_URL = env.get_url("ROLLOUT_WEBHOOK_URL", ("http", "https"))
# Traffic drivers.
ROLLOUT_STABLE_UPSTREAM = env.get_str("ROLLOUT_STABLE_UPSTREAM", "127.0.0.1:8001") or ""
ROLLOUT_CANARY_UPSTREAM = env.get_str("ROLLOUT_CANARY_UPSTREAM", "127.0.0.1:8002") or ""
NGINX_UPSTREAM_FILE = (
    env.get_str("NGINX_UPSTREAM_FILE", "/etc/nginx/conf.d/portal-api-upstream.conf") or ""
)
NGINX_UPSTREAM_NAME = env.get_str("NGINX_UPSTREAM_NAME", "portal_api") or "portal_api"
NGINX_TEST_COMMAND = env.get_str("NGINX_TEST_COMMAND", "nginx -t") or "nginx -t"
NGINX_RELOAD_COMMAND = env.get_str("NGINX_RELOAD_COMMAND", "nginx -s reload") or "nginx -s reload"
ALB_LISTENER_ARN = env.get_str("ALB_LISTENER_ARN") or ""
ALB_STABLE_TARGET_GROUP_ARN = env.get_str("ALB_STABLE_TARGET_GROUP_ARN") or ""
ALB_CANARY_TARGET_GROUP_ARN = env.get_str("ALB_CANARY_TARGET_GROUP_ARN") or ""
AWS_ALB_REGION = env.get_str("AWS_ALB_REGION") or env.get_str("AWS_DEFAULT_REGION") or "us-east-1"
# Consecutive ticks whose probes of the canary fail (no answer) before it is rolled back.
ROLLOUT_MAX_PROBE_ERRORS = env.get_int("ROLLOUT_MAX_PROBE_ERRORS", 3, minimum=1)
# The guard: hard signals judged on every tick, bake or not (canary health, breakers, and the
# canary's 5xx rate over the last ROLLOUT_GUARD_WINDOW_SECONDS once it has
# ROLLOUT_GUARD_MIN_SAMPLES requests). A breach rolls back at once.
ROLLOUT_GUARD_MAX_ERROR_RATE = env.get_float("ROLLOUT_GUARD_MAX_ERROR_RATE", 0.05, minimum=0.0)
ROLLOUT_GUARD_WINDOW_SECONDS = env.get_int("ROLLOUT_GUARD_WINDOW_SECONDS", 60, minimum=10)
ROLLOUT_GUARD_MIN_SAMPLES = env.get_int("ROLLOUT_GUARD_MIN_SAMPLES", 20, minimum=1)
# Console actions return once their intent is committed; commands and driver calls then run
# in a thread of their own, and the rollout's page follows them.
ROLLOUT_ACTIONS_IN_BACKGROUND = env.get_bool("ROLLOUT_ACTIONS_IN_BACKGROUND", True)
# An action still in progress after all its commands' timeouts plus this is taken for dead
# (its process crashed) and carried out again by the controller.
ROLLOUT_INTENT_GRACE_SECONDS = env.get_int("ROLLOUT_INTENT_GRACE_SECONDS", 120, minimum=1)
# One traffic-driver call's deadline (nginx: write, `nginx -t`, reload; ALB: modify-listener).
# Past it the call is a driver failure; the traffic lease is held at most this long plus 5 s.
ROLLOUT_DRIVER_TIMEOUT_SECONDS = env.get_int("ROLLOUT_DRIVER_TIMEOUT_SECONDS", 90, minimum=1)
# A rollout left paused (waiting for a person) longer than this is aborted; 0: never.
ROLLOUT_PAUSE_DEADLINE_SECONDS = env.get_int("ROLLOUT_PAUSE_DEADLINE_SECONDS", 3600, minimum=0)
# The console warns that no controller is running after this long without a tick.
ROLLOUT_CONTROLLER_STALE_SECONDS = env.get_int("ROLLOUT_CONTROLLER_STALE_SECONDS", 120, minimum=10)
# Probe top-up when a phase's gates lack samples (ops/rollouts/topup.py): requests per lane
# per tick, and requests a second per lane.
ROLLOUT_TOPUP_REQUESTS = env.get_int("ROLLOUT_TOPUP_REQUESTS", 60, minimum=0)
ROLLOUT_TOPUP_RATE = env.get_float("ROLLOUT_TOPUP_RATE", 10.0, minimum=0.1)
