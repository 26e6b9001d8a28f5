"""django-prometheus's SQLite backend, with its cursor class made once.

django-prometheus makes a new cursor class for every cursor (`ExportingCursorWrapper` defines
a class on each call). A class is a reference cycle, so every request on SQLite left classes
for the cyclic collector (portal/fastpaths/cycles.py says why that matters), and paid for
making them.
The class depends only on the base cursor class, the alias and the vendor, so it is made once
for each. (Its PostgreSQL backend makes its class once per connection already.)
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django_prometheus.db.backends.sqlite3 import base  # type: ignore[import-untyped]
from django_prometheus.db.common import ExportingCursorWrapper  # type: ignore[import-untyped]


@cache
def _cursor_class(cursor_class: type, alias: str, vendor: str) -> Any:
    return ExportingCursorWrapper(cursor_class, alias, vendor)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name: str | None = None) -> Any:
        factory = _cursor_class(self.CURSOR_CLASS, self.alias, self.vendor)
        return self.connection.cursor(factory=factory)
