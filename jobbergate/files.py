"""File contents behind template, workflow and job script rows, kept through Django's storage API.

Rows hold a storage key, never a path built from a user's file name: a key is ``<prefix>/<random hex>``, so a
file name can never steer where bytes land, and a rename is a row update. Old contents are removed only after the
transaction that replaced them commits, so a rolled-back request leaves every file as it was.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction


def _storage():
    return storages["default"]


def store_content(prefix: str, content: bytes) -> str:
    """Save ``content`` under a fresh key below ``prefix`` and return the key.

    A request that rolls back after this leaves unreferenced bytes behind (never a row without bytes);
    they are harmless and can be swept by comparing keys with rows.
    """
    key = posixpath.join(prefix, uuid.uuid4().hex)
    return _storage().save(key, ContentFile(content))


def load_content(key: str) -> bytes:
    """Return the bytes saved under ``key``."""
    with _storage().open(key, "rb") as handle:
        return handle.read()


def discard_content(keys: Iterable[str]) -> None:
    """Delete the contents under ``keys`` once the current transaction commits."""
    pending = [key for key in keys if key]
    if not pending:
        return

    def delete() -> None:
        storage = _storage()
        for key in pending:
            storage.delete(key)

    transaction.on_commit(delete)
