"""Costly requests get fair shares: a caller whose slots are all taken gets 429 at once; others are not affected."""

from __future__ import annotations

import pytest

from applications.tests.test_folders import FOLDER, put_archive, tar_gz
from jobbergate.fairness import heavy_request
from jobbergate.principal import Principal

pytestmark = pytest.mark.django_db


def as_principal(persona) -> Principal:
    return Principal(email=persona.email)


def test_a_second_heavy_request_of_one_user_gets_429_while_another_user_goes_on(alice, bob, settings, tmp_path):
    settings.LOCK_DIR = tmp_path / "locks"
    with heavy_request(as_principal(alice), what="a render in another process"):
        refused = put_archive(alice, "mine", tar_gz(FOLDER))
        assert refused.status_code == 429, refused.content
        assert "already have 1 request(s) of this kind running" in refused.json()["detail"]
        assert refused["Retry-After"] == "1"
        assert put_archive(bob, "his", tar_gz(FOLDER)).status_code == 201
    assert put_archive(alice, "mine", tar_gz(FOLDER)).status_code == 201  # the slot is free again


def test_a_caller_may_be_given_more_slots(alice, settings, tmp_path):
    settings.LOCK_DIR = tmp_path / "locks"
    settings.HEAVY_REQUESTS_PER_USER = 2
    with heavy_request(as_principal(alice), what="one"):
        with heavy_request(as_principal(alice), what="two"):
            assert put_archive(alice, "third", tar_gz(FOLDER)).status_code == 429
        assert put_archive(alice, "third", tar_gz(FOLDER)).status_code == 201


def test_the_slot_is_released_when_the_request_fails(alice, settings, tmp_path):
    settings.LOCK_DIR = tmp_path / "locks"
    with pytest.raises(RuntimeError), heavy_request(as_principal(alice), what="x"):
        raise RuntimeError("the render broke")
    with heavy_request(as_principal(alice), what="x"):
        pass
    assert oct((tmp_path / "locks").stat().st_mode & 0o777) == "0o700"
