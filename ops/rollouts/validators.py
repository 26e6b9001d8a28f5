"""Release inputs that end up in commands, on the status page and in the load balancer: checked
in one place for the CLI, the console and the services."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from ops.versions import validate_version

__all__ = ["IMAGE_RE", "validate_image", "validate_version"]

# A container image reference (the distribution reference grammar): an optional registry host
# with port, a lowercase path, then a tag and/or a sha256 digest. No whitespace, quotes or
# leading `-`, so it can never become another argument of a command.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?/)?"
IMAGE_RE = re.compile(
    rf"{_HOST}{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@sha256:[0-9a-f]{64})?"
)
IMAGE_HELP = "A container image reference such as ghcr.io/acme/portal-api:v1.4.0 (no spaces)."


def validate_image(value: str) -> None:
    if len(value) > 300 or not IMAGE_RE.fullmatch(value):
        raise ValidationError(f"{value!r} is not an image reference. {IMAGE_HELP}")
