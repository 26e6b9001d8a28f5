"""Bearer-token authentication: resolves the caller's token and tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from portal.fastpaths import shared_reads
from portal.models import ApiToken, Tenant, hash_token
from portal.observability import request_context
from portal.tenancy import tokens

if TYPE_CHECKING:
    # Imported for types only: rest_framework.views imports this module through its settings.
    from rest_framework.views import APIView


@dataclass(frozen=True)
class TenantPrincipal:
    """What `request.user` is for API calls: the token and the tenant it belongs to."""

    token: ApiToken

    @property
    def tenant(self) -> Tenant:
        return self.token.tenant

    @property
    def is_authenticated(self) -> bool:
        return True


def touch_last_used(token: ApiToken) -> None:
    """Records use at most once a minute per token, whatever the request rate or worker count."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=ApiToken.LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is not None and token.last_used_at > stale_before:
        return
    # The conditional update makes concurrent workers agree: only one of them writes.
    ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=stale_before).update(
        last_used_at=now
    )
    token.last_used_at = now


def resolve_token(raw: str) -> ApiToken:
    """Returns the usable token for a raw bearer value, or raises AuthenticationFailed. Known
    tokens come from this process's token cache (portal/tenancy/tokens.py) while no token or
    tenant has changed anywhere; expiry is checked on every request."""
    return _resolve(raw, None)


def _resolve(raw: str, also: tokens.AlsoAsked | None) -> ApiToken:
    key_hash = hash_token(raw)

    def load() -> ApiToken | None:
        return ApiToken.objects.select_related("tenant").filter(key_hash=key_hash).first()

    token = tokens.cached(key_hash, load, also)
    if token is None or not token.is_usable():
        raise exceptions.AuthenticationFailed("The bearer token is invalid, revoked or expired")
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TenantPrincipal, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            # No bearer credentials at all: the permission check answers UNAUTHENTICATED.
            return None
        value = value.strip()
        if not value or " " in value or len(value) > 256:
            raise exceptions.AuthenticationFailed("Malformed bearer token")
        token = _resolve(value, shared_reads.current())
        touch_last_used(token)
        request_context.set_principal(
            tenant=token.tenant.slug, token_prefix=token.prefix, traffic=token.tenant.traffic
        )
        return TenantPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class OptionalBearerTokenAuthentication(BearerTokenAuthentication):
    """For routes open to anonymous callers (health): a bad token is treated as none, and so is
    a token that cannot be looked up because the database is down, so what health says never
    depends on the caller's token."""

    def authenticate(self, request: Request) -> tuple[TenantPrincipal, ApiToken] | None:
        try:
            return super().authenticate(request)
        except (exceptions.AuthenticationFailed, DatabaseError):
            return None


class IsTenantMember(permissions.BasePermission):
    """Requires a token whose tenant is active."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        if not isinstance(user, TenantPrincipal):
            scheme = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0]
            if scheme:
                raise exceptions.NotAuthenticated(
                    f"Authorization uses the Bearer scheme (`Authorization: Bearer <token>`), "
                    f"not {scheme[:20]!r}"
                )
            raise exceptions.NotAuthenticated()
        if not user.tenant.is_active:
            raise exceptions.PermissionDenied("This tenant is suspended")
        return True
