"""The settings readers fail loudly on values they cannot parse, and read secrets from *_FILE."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobbergate.env import env_bool, env_int, env_list, env_secret, read_or_create_secret_file


def test_booleans_accept_the_usual_words(monkeypatch):
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False


@pytest.mark.parametrize("reader, value", [(env_bool, "perhaps"), (env_int, "ten")])
def test_a_value_that_does_not_parse_stops_the_start(monkeypatch, reader, value):
    monkeypatch.setenv("X_VALUE", value)
    with pytest.raises(ImproperlyConfigured, match="X_VALUE"):
        reader("X_VALUE", 1) if reader is env_int else reader("X_VALUE")


def test_an_integer_below_its_minimum_is_refused(monkeypatch):
    monkeypatch.setenv("X_COUNT", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("X_COUNT", 5, minimum=0)


def test_lists_split_on_commas(monkeypatch):
    monkeypatch.setenv("X_HOSTS", " a.example , ,b.example")
    assert env_list("X_HOSTS") == ["a.example", "b.example"]


def test_a_secret_comes_from_its_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_secret("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET", "direct")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("X_SECRET")


def test_an_unreadable_secret_file_is_named_but_not_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_secret("X_SECRET")


def test_a_generated_secret_is_created_once_with_mode_0600(tmp_path):
    path = tmp_path / "nested" / "key"
    first = read_or_create_secret_file(path, lambda: "one")
    second = read_or_create_secret_file(path, lambda: "two")
    assert first == second == "one"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_bad_setting_stops_manage_py_with_its_name(tmp_path):
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={"JOBBERGATE_DEBUG": "sometimes", "JOBBERGATE_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JOBBERGATE_DEBUG must be a boolean" in result.stderr


def test_debug_is_off_unless_asked():
    from django.conf import settings

    assert settings.DEBUG is False
