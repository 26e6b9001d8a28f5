"""Signed download links: an HMAC over path, expiry and the token's public prefix."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings

from portal.formats import ascii_int

# Clocks of different instances may disagree a little; links are never valid for longer than
# the TTL cap plus this.
CLOCK_SKEW_SECONDS = 30
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, tz=UTC)


def _key() -> bytes:
    # A key of its own, derived from SECRET_KEY, so these signatures are useless elsewhere.
    return hashlib.sha256(b"portal.files.signed-url\x00" + settings.SECRET_KEY.encode()).digest()


def signature_for(path: str, expires: int, client: str) -> str:
    message = f"{path}\n{expires}\n{client}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def sign(*, base_url: str, path: str, client: str, now: float | None = None) -> SignedUrl:
    """Signs `path` for the token prefix `client`, valid SIGNED_URL_TTL_SECONDS from now."""
    issued = time.time() if now is None else now
    # Rounded down, so a link never outlives the configured TTL.
    expires = int(issued) + settings.SIGNED_URL_TTL_SECONDS
    query = urlencode(
        {
            "expires": expires,
            "client": client,
            "signature": signature_for(path, expires, client),
        }
    )
    return SignedUrl(url=f"{base_url}{path}?{query}", expires=expires)


class SignatureError(Exception):
    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def verify(
    *,
    path: str,
    expires: str | None,
    client: str | None,
    signature: str | None,
    now: float | None = None,
) -> tuple[int, str]:
    """Checks a link's parameters; returns (expires, client) or raises SignatureError."""
    if not expires or not client or not signature:
        raise SignatureError("The link is missing its expires, client or signature parameter")
    expires_at = ascii_int(expires, max_digits=12)
    if expires_at is None or len(client) > 64 or not _HEX64.fullmatch(signature):
        raise SignatureError("The link's signature is invalid")
    expected = signature_for(path, expires_at, client)
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("The link's signature is invalid")
    current = time.time() if now is None else now
    if expires_at <= current:
        raise SignatureError(
            "The link has expired; list the job's files for a fresh one", expired=True
        )
    if expires_at > current + settings.SIGNED_URL_TTL_MAX + CLOCK_SKEW_SECONDS:
        raise SignatureError("The link's expiry is too far in the future")
    return expires_at, client
