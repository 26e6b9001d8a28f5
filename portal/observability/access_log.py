"""gunicorn's access log as one JSON object per line.

gunicorn's own format string does not escape its atoms, so a request line with a quote in it
would break JSON; this logger builds the object and lets json.dumps escape it.

One line per request: a response that Django produced carries X-Trace-Id, and the app has
already written its request line for it (with the trace id, tenant and token prefix), so this
logger writes only what never reached Django — what gunicorn answers itself (400, 414, 431) and
anything else that comes back without the app's mark.
"""

from __future__ import annotations

import json
import os
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

from gunicorn.glogging import Logger

from portal.formats import ascii_int


class JsonAccessLogger(Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = str(getattr(resp, "status", "") or "").split(" ", 1)[0]
        headers = {name.lower(): value for name, value in getattr(resp, "headers", [])}
        if "x-trace-id" in headers:
            return  # the app's own request line covers it
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "logger": "gunicorn.access",
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "protocol": environ.get("SERVER_PROTOCOL"),
            "status": ascii_int(status, max_digits=3) or status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "request_id": headers.get("x-request-id"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(record, separators=(",", ":")))
        except Exception:
            self.error(traceback.format_exc())
