"""Which part of the site a request is for, spelled once.

- The **token API** (`/v1/…` and `/metrics`): called with bearer tokens, never reads a session
  (the staff middleware is skipped) and always answers errors as problem+json.
- The **tenant API** (`/v1/…` but health): what the database breaker guards; health probes the
  database through the breaker itself.
- **Pages** people read in a browser (the console, the status page, the admin): their errors
  are the same problem, as an HTML page.
"""

from __future__ import annotations

from django.http import HttpRequest

TOKEN_API_PREFIXES = ("/v1/", "/metrics")
TENANT_API_PREFIX = "/v1/"
HEALTH_PATH = "/v1/health"
PAGE_PREFIXES = ("/ops/", "/status", "/admin/")


def is_token_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(TOKEN_API_PREFIXES)


def is_tenant_api(request: HttpRequest) -> bool:
    path = request.path_info
    return path.startswith(TENANT_API_PREFIX) and path != HEALTH_PATH


def is_page(request: HttpRequest) -> bool:
    """A page (not its `.json` feed, which answers as the API does)."""
    path = request.path_info
    return path.startswith(PAGE_PREFIXES) and not path.endswith(".json")
