"""The domain's one error type, free of HTTP frameworks.

Services, selectors and helpers raise `DomainError` (or Django's `ValidationError`); they can
be called from a view, a management command or a task alike. `portal.http.problems` maps both to
RFC 9457 problem documents, in one place. This module imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """A refusal with a problem code (`NOT_FOUND`, `CONFLICT`, …), a sentence for the caller,
    and optionally per-field errors, response headers (`Retry-After`) and extension members
    for the problem document (RFC 9457 §3.2: facts a client can act on, such as a quota)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
        extensions: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors
        self.extensions = dict(extensions or {})


class NotFoundError(DomainError):
    """Something the request names does not exist (or belongs to another tenant)."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        errors = [{"field": field, "message": f"{detail}."}] if field else None
        super().__init__("NOT_FOUND", detail, errors=errors)


class ServiceUnavailableError(DomainError):
    """A dependency is down or its breaker is open: fail fast and say when to retry."""

    def __init__(self, dependency: str, retry_after: int) -> None:
        super().__init__(
            "SERVICE_UNAVAILABLE",
            f"The {dependency} is temporarily unavailable; retry after {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
        )


class PayloadTooLargeError(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__("PAYLOAD_TOO_LARGE", detail)
