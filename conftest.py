"""Fixtures shared by every test: isolated file storage, the personas and an anonymous client."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from jobbergate.choices import AGENT_PERMISSIONS, USER_PERMISSIONS, Permission
from testkit.personas import make_persona

# Fixtures kept in the test kit and used by tests in several folders: the browser (browser_page, admin_sign_in).
pytest_plugins = ["testkit.browser"]


def require_real_part(reason: str) -> None:
    """Skip a test whose real part is missing, except in CI where that is a failure."""
    if os.environ.get("JOBBERGATE_REQUIRE_REAL_PARTS") == "1" or os.environ.get("CI") == "true":
        pytest.fail(f"Required real part is missing: {reason}")
    pytest.skip(reason)


def python_path() -> dict[str, str]:
    """The run's PYTHONPATH, for a ``jobbergate`` process a test starts with an environment of its own, so that it
    runs the code the test imports (a worktree's CLI, not the one installed in .venv)."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


@pytest.fixture(autouse=True)
def _fresh_token_checks():
    """Each test checks its tokens from scratch (a process keeps the tokens whose signature held)."""
    from accounts.tokens import forget_verified_tokens

    forget_verified_tokens()


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Each test gets its own file storage folder, so stored bytes never leak between tests."""
    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], "location": str(tmp_path / "files")}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.LOCK_DIR = tmp_path / "locks"  # heavy-request slots: never shared with another test or test run


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def alice(db):
    """A regular user who owns things."""
    return make_persona("alice@example.com", USER_PERMISSIONS)


@pytest.fixture
def bob(db):
    """Another regular user, with the same permissions as alice but none of her rows."""
    return make_persona("bob@example.com", USER_PERMISSIONS)


@pytest.fixture
def carol(db):
    """The admin."""
    return make_persona("carol@example.com", [Permission.ADMIN.value])


@pytest.fixture
def dave(db):
    """A maintainer."""
    return make_persona("dave@example.com", [Permission.MAINTAINER.value])


@pytest.fixture
def reader(db):
    """A user who may only read."""
    return make_persona(
        "rita@example.com",
        [Permission.TEMPLATES_READ.value, Permission.SCRIPTS_READ.value, Permission.SUBMISSIONS_READ.value],
    )


@pytest.fixture(scope="session")
def openid_provider():
    """A real OpenID provider (oidc-provider on Node) for the whole session, on a free loopback port."""
    from testkit.oidc import OpenIDProvider, node_available

    if not node_available():
        require_real_part("node and npm are missing: apt-get install nodejs npm")
    provider = OpenIDProvider().start()
    yield provider
    provider.remove()


@pytest.fixture
def oidc(settings, openid_provider):
    """The service configured to trust the session's OpenID provider, with empty caches."""
    from accounts.oidc import reset_provider

    settings.OIDC_ISSUER_URL = openid_provider.issuer
    settings.OIDC_AUDIENCE = [openid_provider.audience]
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 0
    reset_provider()
    yield openid_provider
    reset_provider()


@pytest.fixture
def agent(db):
    """The agent of cluster-a: a server-issued cluster token with what an agent needs (as create_api_token gives)."""
    return make_persona("agent-a@example.com", list(AGENT_PERMISSIONS), client_id="cluster-a")


@pytest.fixture
def workdir(tmp_path):
    """An execution directory for Slurm jobs: readable by everyone on the way (jobs may run as another user)."""
    os.chmod(tmp_path, 0o755)
    folder = tmp_path / "run"
    folder.mkdir(mode=0o755)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _close_leftover_database_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end the sessions other threads left open on it (PostgreSQL).

    live_server answers each keep-alive HTTP connection in its own thread, which holds its database connection
    until the client closes the socket; a browser test's last connection can outlive the test, and the drop then
    failed with 'database "test_jobbergate" is being accessed by other users'.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
