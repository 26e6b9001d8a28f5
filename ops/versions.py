"""What a release version looks like: the label metrics carry and rollouts roll out. Shared by
the rooms; imports none of them."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
VERSION_HELP = "Letters, digits and . _ + - only, starting with a letter or digit (e.g. 1.4.0)."
version_validator = RegexValidator(rf"^{VERSION_RE.pattern}\Z", VERSION_HELP)


def validate_version(value: str) -> None:
    if not VERSION_RE.fullmatch(value):
        raise ValidationError(f"{value!r} is not a release version. {VERSION_HELP}")
