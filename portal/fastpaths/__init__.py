"""Every performance shortcut of the project, and the only code that reaches into framework
internals (private names of Django, DRF, django-filter, django-ratelimit) to take one.

One switch turns every shortcut off: `FAST_PATHS=off` (`settings.FAST_PATHS`) serves each
request through the stock framework path instead. `FAST_PATHS_EXCEPT` turns chosen ones off
by name (`make bench` measures each one that way). It is read each time a shortcut is about to
be taken, so `override_settings(FAST_PATHS=False)` turns them off in a test. CI runs the unit
suite both ways, so correctness never depends on a shortcut, and
`tests/architecture/test_fastpaths.py` fails when code outside this package touches a
framework's private names.

The shortcuts, each with the stock path it replaces (BENCHMARKS.md says what they are worth):
- `prepared`: a tenant's row by primary key and a list's page run SQL compiled once per shape,
  where the ORM builds and compiles the query on every request.
- `drf`: parser, renderer, authenticator and permission objects made once per view class;
  content negotiation without parsing a missing or `*/*` Accept; output serializers rendered
  through a read plan instead of walking bound fields; one filterset form class per filterset
  class; no filterset run for a request that names none of its filters.
- `cycles`: a request's DRF objects freed when it ends instead of at the next collection.
- `backends`: PostgreSQL timestamps decoded by psycopg's C loader, the connection reuse check
  folded into a request's first read; django-prometheus's SQLite cursor class made once.
- `ratelimit`: django-ratelimit's window and key computed directly and counted with one
  atomic increment, where `get_usage` takes two round trips.
- `shared_reads`: the token check, the rate-limit count and the tenant's list-total
  generations read from the shared cache in one round trip instead of three.
"""

from __future__ import annotations

from django.conf import settings


def enabled(shortcut: str) -> bool:
    """Whether `shortcut` (one of settings.FAST_PATH_NAMES) is taken: FAST_PATHS is on (the
    default) and FAST_PATHS_EXCEPT does not name it."""
    return bool(settings.FAST_PATHS) and shortcut not in settings.FAST_PATHS_EXCEPT
