from __future__ import annotations

from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"

    def ready(self) -> None:
        from files import signals  # noqa: F401 - registers the receivers
