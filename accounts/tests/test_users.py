"""Ordinary users, made by ``manage.py create_user`` or in the admin, get tokens that work (README "API tokens")."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from jobbergate.choices import Permission

User = get_user_model()
README_PERMISSIONS = "jobbergate:job-templates:read,jobbergate:job-scripts:create,jobbergate:job-scripts:read"


def token_for(user: str, permissions: str) -> APIClient:
    out = StringIO()
    call_command("create_api_token", "--user", user, "--permissions", permissions, "--expires-in", "30", stdout=out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip().splitlines()[-1]}")
    return client


@pytest.mark.django_db
class TestCreateUser:
    def test_it_makes_an_ordinary_user_whose_token_works(self):
        out = StringIO()
        call_command("create_user", "alice@example.com", stdout=out)
        assert "Created the user 'alice@example.com'" in out.getvalue()
        alice = User.objects.get(email="alice@example.com")
        assert (alice.is_staff, alice.is_superuser, alice.has_usable_password()) == (False, False, False)

        client = token_for("alice@example.com", README_PERMISSIONS)
        assert client.get("/jobbergate/job-script-templates").status_code == 200
        created = client.post("/jobbergate/job-scripts", {"name": "by hand"}, format="json")
        assert created.status_code == 201
        assert created.json()["owner_email"] == "alice@example.com"

    def test_her_token_cannot_carry_the_admins_powers(self):
        call_command("create_user", "alice@example.com", stdout=StringIO())
        with pytest.raises(CommandError, match="does not hold jobbergate:admin"):
            token_for("alice@example.com", Permission.ADMIN.value)

    def test_running_it_again_leaves_the_user_as_it_is(self):
        call_command("create_user", "alice@example.com", stdout=StringIO())
        again = StringIO()
        call_command("create_user", "alice@example.com", stdout=again)
        assert "exists; left as it is" in again.getvalue()
        assert User.objects.count() == 1

    def test_a_dry_run_creates_nobody(self):
        out = StringIO()
        call_command("create_user", "alice@example.com", "--dry-run", stdout=out)
        assert "Would create" in out.getvalue()
        assert not User.objects.exists()

    @pytest.mark.parametrize(
        "arguments, message",
        [
            (["not-an-address"], "is not an e-mail address"),
            (["ALICE@example.com", "--username", "alice2"], "already holds this user name or e-mail"),
            (["other@example.com", "--username", "alice"], "already holds this user name or e-mail"),
        ],
    )
    def test_it_refuses_a_bad_or_taken_address(self, arguments, message):
        User.objects.create_user("alice", "alice@example.com")
        with pytest.raises(CommandError, match=message):
            call_command("create_user", *arguments, stdout=StringIO())
        assert User.objects.count() == 1


def test_an_operator_adds_an_ordinary_user_in_the_admin_whose_token_works(client, db):
    operator = User.objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client.force_login(operator)
    added = client.post(
        "/admin/auth/user/add/", {"username": "bob", "usable_password": "false", "password1": "", "password2": ""}
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    bob = User.objects.get(username="bob")
    changed = client.post(
        f"/admin/auth/user/{bob.pk}/change/",
        {
            "username": "bob",
            "email": "bob@example.com",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert changed.status_code == 302, changed.content.decode()[:2000]
    bob.refresh_from_db()
    assert (bob.email, bob.is_staff, bob.is_superuser) == ("bob@example.com", False, False)

    client = token_for("bob@example.com", README_PERMISSIONS)
    assert client.get("/jobbergate/job-script-templates").status_code == 200
