"""Password logins are throttled (django-axes): wrong passwords lock the user name at that address for a while."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"
PASSWORD = "the-right-password-1"


@pytest.fixture(autouse=True)
def _quick_hashing(settings):
    """Dozens of sign-ins: a fast hasher keeps them quick (what is counted is the same)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def carol():
    return get_user_model().objects.create_superuser("carol", "carol@example.com", PASSWORD)


def sign_in(client: Client, password: str, username: str = "carol"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def signed_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_wrong_passwords_then_the_right_one_is_refused_for_a_while(client, carol):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert sign_in(client, "guess").status_code == 200  # the form again, with its error
    assert sign_in(client, "guess").status_code == 429
    response = sign_in(client, PASSWORD)
    assert response.status_code == 429
    assert "too many" in response.content.decode().lower()
    assert not signed_in(client)


def test_the_right_password_works_again_once_the_cool_off_has_passed(client, carol):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "guess")
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME)
    assert sign_in(client, PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_success_before_the_limit_starts_the_count_again(client, carol):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "guess")
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "guess")
    assert sign_in(client, PASSWORD).status_code == 302


def test_the_lock_holds_the_user_name_at_that_address_only(carol):
    get_user_model().objects.create_superuser("erin", "erin@example.com", PASSWORD)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(attacker, "guess")
    assert sign_in(attacker, PASSWORD).status_code == 429
    assert sign_in(Client(REMOTE_ADDR="203.0.113.9"), PASSWORD, username="erin").status_code == 302
    assert sign_in(Client(REMOTE_ADDR="198.51.100.7"), PASSWORD).status_code == 302
