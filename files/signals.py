"""Stored bytes follow their rows: whatever deletes a JobFile (API, admin, a job or tenant
cascade) also removes its bytes, once the deletion has committed."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from files.models import JobFile
from files.services import file_delete_bytes


@receiver(post_delete, sender=JobFile, dispatch_uid="files.delete_bytes")
def delete_bytes(sender: type[JobFile], instance: JobFile, **kwargs: Any) -> None:
    if instance.blob.name:
        transaction.on_commit(partial(file_delete_bytes, instance.blob.name, instance.blob.storage))
