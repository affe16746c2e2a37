"""What a browser and a careful client see: OPTIONS needs only read, and every page sends a Content-Security-Policy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


class TestOptions:
    def test_options_on_a_list_answers_a_read_only_caller(self, reader):
        response = reader.client.options("/jobbergate/job-scripts")
        assert response.status_code == 200, response.content
        assert response.json()["name"]

    def test_options_lists_only_the_forms_the_caller_may_send(self, reader, alice):
        assert "actions" not in reader.client.options("/jobbergate/job-scripts").json()
        assert "POST" in alice.client.options("/jobbergate/job-scripts").json()["actions"]

    def test_options_still_needs_read(self, agent):
        response = agent.client.options("/jobbergate/job-script-templates")
        assert response.status_code == 403
        assert "jobbergate:job-templates:read" in response.json()["detail"]


class TestContentSecurityPolicy:
    @pytest.mark.parametrize("path", ["/admin/login/", "/jobbergate/docs", "/jobbergate/redoc", "/jobbergate/health"])
    def test_every_page_sends_a_policy_that_allows_only_this_server(self, client, path):
        response = client.get(path)
        assert response.status_code in (200, 204)
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "object-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert directive(policy, "script-src") == "script-src 'self'"

    @pytest.mark.parametrize("path", ["/jobbergate/docs", "/jobbergate/redoc"])
    def test_the_api_docs_run_no_inline_script_and_load_nothing_from_elsewhere(self, client, path):
        page = client.get(path).content.decode()
        assert "<script>" not in page
        assert "https://" not in page
        scripts = re.findall(r'<script src="([^"]+)"', page)
        assert scripts
        for source in scripts:
            if source.startswith(settings.STATIC_URL):
                assert finders.find(source.removeprefix(settings.STATIC_URL)), source
            else:
                assert client.get(source).status_code == 200, source  # Swagger UI's start-up script

    def test_an_admin_page_sends_the_policy(self, admin_client):
        response = admin_client.get("/admin/jobscripts/jobscript/")
        assert response.status_code == 200
        assert "script-src 'self'" in response["Content-Security-Policy"]


def directive(policy: str, name: str) -> str:
    return next(part.strip() for part in policy.split(";") if part.strip().startswith(name + " "))


def test_an_https_deployment_sends_hsts_and_secure_cookies(tmp_path):
    """The variables of README's "HTTPS deployments", read at start-up, behind a proxy that ends TLS."""
    probe = """
import django, json
django.setup()
from django.conf import settings
from django.test import Client
print(json.dumps({
    "hsts": Client().get("/jobbergate/health", HTTP_X_FORWARDED_PROTO="https").get("Strict-Transport-Security"),
    "plain_hsts": Client().get("/jobbergate/health").get("Strict-Transport-Security"),
    "secure_cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
}))
"""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jobbergate.settings",
        "JOBBERGATE_VAR_DIR": str(tmp_path),
        "JOBBERGATE_ALLOWED_HOSTS": "testserver",
        "JOBBERGATE_SECURE_COOKIES": "true",
        "JOBBERGATE_HSTS_SECONDS": "31536000",
        "JOBBERGATE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "JOBBERGATE_BEHIND_HTTPS_PROXY": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True, cwd=ROOT
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "hsts": "max-age=31536000; includeSubDomains",
        "plain_hsts": None,
        "secure_cookies": [True, True],
    }
