"""Stored bytes and storage usage follow their rows: whatever inserts or deletes a JobFile (the
API, the admin, a job or tenant cascade, the demo data) keeps the tenant's usage in step in
the same transaction, and a deletion removes the bytes once it has committed. A file's size
never changes after its insert (the admin shows it read only)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from files import quotas
from files.models import JobFile
from files.services import file_delete_bytes


@receiver(post_save, sender=JobFile, dispatch_uid="files.count_usage")
def count_usage(sender: type[JobFile], instance: JobFile, created: bool, **kwargs: Any) -> None:
    if created:
        quotas.record(instance.tenant_id, size=instance.size, files=1)


@receiver(post_delete, sender=JobFile, dispatch_uid="files.delete_bytes")
def delete_bytes(sender: type[JobFile], instance: JobFile, **kwargs: Any) -> None:
    quotas.record(instance.tenant_id, size=-instance.size, files=-1)
    if instance.blob.name:
        transaction.on_commit(partial(file_delete_bytes, instance.blob.name, instance.blob.storage))
