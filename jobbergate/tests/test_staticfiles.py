"""Static files not collected: pages still render (never a 500), and the server says what to run."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client


@pytest.mark.django_db
def test_pages_render_when_static_files_were_never_collected(settings, tmp_path, caplog):
    settings.STATIC_ROOT = str(tmp_path / "never-collected")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "jobbergate.staticfiles.StaticFilesStorage"},
    }
    from django.contrib.staticfiles.storage import staticfiles_storage  # rebuilt for the new settings by Django

    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-a-test"))
    for path in ("/admin/login/", "/admin/", "/jobbergate/docs", "/jobbergate/redoc"):
        response = browser.get(path)
        assert response.status_code in (200, 302), (path, response.status_code)
    with caplog.at_level(logging.WARNING, logger="jobbergate.staticfiles"):
        staticfiles_storage.warn_if_not_collected()
    assert "manage.py collectstatic" in caplog.text
