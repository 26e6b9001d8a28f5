"""What Django's error reports (the DEBUG page, error mails) may show of settings and requests."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsFilter(SafeExceptionReporterFilter):
    """Django's filter hides names with API, TOKEN, KEY, SECRET, PASS or SIGNATURE in them. This
    one also hides connection strings (DATABASE_URL, REDIS_URL and every other *_URL or
    LOCATION, which may carry a password), credentials, and the Authorization and Cookie
    headers, in settings and in the request's META alike."""

    hidden_settings = re.compile(
        r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|CREDENTIAL|AUTH|COOKIE|SESSION|DSN|"
        r"URL|LOCATION|DATABASE|REDIS|ARN|PRIVATE",
        flags=re.IGNORECASE,
    )
