"""The default file storage (jobbergate.files.FileStorage): a fresh key's bytes written directly, everything else
as Django's FileSystemStorage writes it."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from jobbergate import files


@pytest.fixture
def storage(settings):
    storage = storages["default"]
    assert type(storage) is files.FileStorage  # the settings' backend, which the tests' storage keeps
    return storage


def mode_of(storage, key: str) -> int:
    return stat.S_IMODE(os.stat(storage.path(key)).st_mode)


def test_a_fresh_key_is_written_with_the_configured_mode_in_a_folder_made_once(storage):
    first = files.store_content("kind/ab", b"one")
    second = files.store_content("kind/ab", b"two")  # the folder exists now: the direct write
    assert first.startswith("kind/ab/") and second.startswith("kind/ab/") and first != second
    assert [files.load_content(key) for key in (first, second)] == [b"one", b"two"]
    assert mode_of(storage, first) == mode_of(storage, second) == 0o600
    assert os.stat(storage.path(second)).st_gid == os.stat(storage.location).st_gid


def test_a_taken_name_is_never_overwritten(storage):
    key = files.store_content("kind/ab", b"first")
    again = storage.save(key, ContentFile(b"second"))
    assert again != key  # Django's save found another name
    assert files.load_content(key) == b"first" and files.load_content(again) == b"second"
    assert mode_of(storage, again) == 0o600


@pytest.mark.parametrize("name", ["../outside", "kind/../../outside", "/etc/outside"])
def test_a_name_outside_the_folder_is_refused_and_nothing_written(storage, name, tmp_path):
    files.store_content("kind/ab", b"x")  # the folder exists: the direct path is the one asked
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))
    assert not (tmp_path / "outside").exists() and not os.path.exists("/etc/outside")


def test_other_content_and_no_configured_mode_go_through_django(storage, settings, tmp_path):
    key = storage.save("kind/ab/plain", ContentFile("text, not bytes"))
    assert files.load_content(key) == b"text, not bytes"
    default = settings.STORAGES["default"]
    settings.STORAGES = {**settings.STORAGES, "default": {**default, "OPTIONS": {"location": str(tmp_path / "m")}}}
    unmoded = storages["default"]
    saved = unmoded.save("kind/ab/new", ContentFile(b"x"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(unmoded.path(saved)).st_mode) == 0o666 & ~umask


def test_a_fresh_key_in_a_folder_that_exists_does_not_go_through_django(storage, monkeypatch, settings, tmp_path):
    files.store_content("kind/ab", b"makes the folder")
    default = settings.STORAGES["default"]
    options = {"location": storage.location, "file_permissions_mode": 0o640}  # one os.open cannot give: fchmod does
    settings.STORAGES = {**settings.STORAGES, "default": {**default, "OPTIONS": options}}

    def refused(*args, **kwargs):
        raise AssertionError("Django's save was called")

    monkeypatch.setattr(files.FileSystemStorage, "save", refused)
    key = files.store_content("kind/ab", b"direct")
    assert files.load_content(key) == b"direct" and mode_of(storages["default"], key) == 0o640
