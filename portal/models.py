"""Tenants (customer organisations) and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime
from typing import Any

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from portal.tenancy.tokens import auth_changed

RATE_VALIDATOR = RegexValidator(
    r"^[1-9][0-9]*/[smhd]$", "A count and a period, like 60/m (s, m, h or d)."
)
TOKEN_SCHEME = "pt"  # noqa: S105 - the public prefix of every token, not a secret
_ALPHABET = string.ascii_letters + string.digits


def random_id(length: int) -> str:
    """URL-safe random characters (alphanumeric only, so ids never need escaping)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast digest is enough; a slow KDF would only
    # cost a hash per request.
    return hashlib.sha256(raw.encode()).hexdigest()


class AuthQuerySet(models.QuerySet[Any]):
    """Bulk updates of tokens and tenants retire every worker's cached tokens too (saves and
    deletes do so through signals); touching last_used_at alone does not."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        if rows and set(kwargs) != {"last_used_at"}:
            auth_changed()
        return rows


class Traffic(models.TextChoices):
    """Whose requests a tenant's are, as the metrics label them: judgements, reports and the
    stability watch count customers; the rollout controller's probes and `rollout rehearse`
    never pose as customers."""

    CUSTOMER = "customer", "Customer"
    PROBE = "probe", "Rollout probe"
    REHEARSAL = "rehearsal", "Rollout rehearsal"


class Plan(models.Model):
    """What a tenant may store. A tenant on no plan gets STORAGE_QUOTA_BYTES and
    STORAGE_QUOTA_FILES; a tenant's own limits, where set, override its plan's."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    storage_max_bytes = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Bytes of job files a tenant may keep. Blank: STORAGE_QUOTA_BYTES.",
    )
    storage_max_files = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Job files a tenant may keep. Blank: STORAGE_QUOTA_FILES.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Tenant(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(
        default=True, help_text="Suspended tenants' tokens are refused with 403."
    )
    rate_limit_default = models.CharField(
        max_length=16,
        blank=True,
        validators=[RATE_VALIDATOR],
        help_text="Per-token limit for /v1/ routes, e.g. 600/m. Blank: RATE_LIMIT_DEFAULT.",
    )
    rate_limit_files = models.CharField(
        max_length=16,
        blank=True,
        validators=[RATE_VALIDATOR],
        help_text="Per-token limit for /v1/jobs/{id}/files routes. Blank: RATE_LIMIT_FILES.",
    )
    traffic = models.CharField(
        max_length=10,
        choices=Traffic.choices,
        default=Traffic.CUSTOMER,
        help_text="How its requests are labelled in the metrics (the rollout "
        "controller's own tenants are probe or rehearsal traffic, never counted as "
        "customers').",
    )
    plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tenants",
        help_text="Sets the storage quota. Blank: STORAGE_QUOTA_BYTES and STORAGE_QUOTA_FILES.",
    )
    storage_max_bytes = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="This tenant's own limit on stored bytes. Blank: the plan's.",
    )
    storage_max_files = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="This tenant's own limit on stored files. Blank: the plan's.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuthQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ApiTokenQuerySet(AuthQuerySet):
    def usable(self, now: datetime | None = None) -> ApiTokenQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the prefix is public and identifies it."""

    LAST_USED_RESOLUTION_SECONDS = 60

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(
        max_length=100,
        validators=[RegexValidator(r"^[A-Za-z0-9._-]+$", "Letters, digits, . _ - only.")],
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str]:
        """Returns (raw token, public prefix). The raw token is shown once and never stored."""
        prefix = f"{TOKEN_SCHEME}_{random_id(8)}"
        return f"{prefix}_{secrets.token_urlsafe(32)}", prefix

    def is_usable(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now
