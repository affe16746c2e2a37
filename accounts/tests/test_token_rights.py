"""A server-issued token acts with what it carries *and* what its user still holds, as its user's current e-mail."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.authentication import BearerTokenAuthentication, maintainer_group
from accounts.tokens import issue_api_token
from jobbergate.choices import Permission
from testkit.factories import make_job_script, make_template

pytestmark = pytest.mark.django_db
User = get_user_model()
TOKENS = "/admin/accounts/apitoken/"


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def erin():
    """An operator: a superuser in the maintainers group, with an admin token."""
    user = User.objects.create_superuser("erin", "erin@example.com", "pw-for-tests")
    user.groups.add(maintainer_group())
    return user


def admin_token(user) -> str:
    return issue_api_token(user=user, permissions=[Permission.ADMIN.value]).token


class TestDemotion:
    def test_an_admin_token_loses_its_powers_when_its_user_loses_superuser_and_groups(self, erin):
        foreign = make_template("alice@example.com")
        api = client_with(admin_token(erin))
        assert api.get(f"/jobbergate/job-script-templates/{foreign.pk}").status_code == 200

        erin.is_superuser = False
        erin.save()
        erin.groups.clear()

        response = api.get("/jobbergate/job-script-templates")
        assert response.status_code == 403
        assert "jobbergate:job-templates:read" in response.json()["detail"]
        assert api.delete(f"/jobbergate/job-script-templates/{foreign.pk}").status_code == 403
        assert api.get("/jobbergate/job-submissions/agent/pending").status_code == 403

    def test_a_maintainer_token_stops_maintaining_when_its_user_leaves_the_group(self, erin):
        erin.is_superuser = False
        erin.save()
        token = issue_api_token(
            user=erin, permissions=[Permission.MAINTAINER.value, Permission.SCRIPTS_READ.value]
        ).token
        foreign = make_job_script("alice@example.com")
        api = client_with(token)
        assert api.get(f"/jobbergate/job-scripts/{foreign.pk}").status_code == 200

        erin.groups.clear()

        # What the token carries besides the lost right still works: erin reads, but only what she owns.
        assert api.get("/jobbergate/job-scripts").status_code == 200
        assert api.get(f"/jobbergate/job-scripts/{foreign.pk}").status_code == 404

    def test_a_promoted_user_gains_nothing_the_token_does_not_carry(self, erin):
        token = issue_api_token(user=erin, permissions=[Permission.SCRIPTS_READ.value]).token
        foreign = make_job_script("alice@example.com")
        assert client_with(token).get(f"/jobbergate/job-scripts/{foreign.pk}").status_code == 404

    def test_a_token_cannot_be_issued_with_a_right_the_user_does_not_hold(self):
        User.objects.create_user("alice", "alice@example.com")
        with pytest.raises(CommandError, match="does not hold jobbergate:admin"):
            call_command("create_api_token", "--user", "alice", "--permissions", Permission.ADMIN.value)

    def test_the_admin_form_refuses_a_right_the_user_does_not_hold(self, client, erin):
        alice = User.objects.create_user("alice", "alice@example.com")
        client.force_login(erin)
        response = client.post(
            TOKENS + "add/",
            {"user": alice.pk, "permissions": [Permission.MAINTAINER.value], "lifetime_days": 7},
        )
        assert response.status_code == 200
        assert "does not hold jobbergate:maintainer" in response.content.decode()
        with pytest.raises(ValidationError):
            issue_api_token(user=alice, permissions=[Permission.MAINTAINER.value])


class TestEmailChange:
    def test_a_token_follows_its_users_new_email(self):
        alice = User.objects.create_user("alice", "alice@example.com")
        permissions = [Permission.SCRIPTS_READ.value, Permission.TEMPLATES_CREATE.value]
        api = client_with(issue_api_token(user=alice, permissions=permissions).token)
        old = make_job_script("alice@example.com")
        assert api.get(f"/jobbergate/job-scripts/{old.pk}").status_code == 200

        alice.email = "alice.new@example.com"
        alice.save()

        assert api.get(f"/jobbergate/job-scripts/{old.pk}").status_code == 404
        created = api.post("/jobbergate/job-script-templates", {"name": "after the change"}, format="json")
        assert created.status_code == 201, created.content
        assert created.json()["owner_email"] == "alice.new@example.com"

    def test_a_token_stops_when_its_user_has_no_email_left(self):
        alice = User.objects.create_user("alice", "alice@example.com")
        api = client_with(issue_api_token(user=alice, permissions=[Permission.TEMPLATES_READ.value]).token)
        alice.email = ""
        alice.save()
        response = api.get("/jobbergate/job-script-templates")
        assert response.status_code == 401
        assert response.json()["detail"] == "The account of this token has no e-mail address"


class TestClusterTokens:
    def test_a_cluster_token_keeps_working_as_its_client_id(self, agent):
        assert agent.client.get("/jobbergate/job-submissions/agent/pending").status_code == 200
        account = User.objects.get(username="agent-a@example.com")
        account.email = "someone@example.com"
        account.save()
        response = agent.client.get("/jobbergate/job-submissions/agent/pending")
        assert response.status_code == 200
        created = agent.client.post("/jobbergate/job-script-templates", {"name": "no"}, format="json")
        assert created.status_code == 403


class TestCost:
    # One query checks the token (known, not revoked, not expired) and brings its user; a token that carries a
    # privileged permission costs one more, for the user's groups (most requests carry none: one simple query is
    # cheaper to build than one with the group lookups in it, see bench/run-profile).
    @pytest.mark.parametrize(
        ("permissions", "queries"),
        [([Permission.ADMIN.value], 2), ([Permission.MAINTAINER.value], 2), ([Permission.TEMPLATES_READ.value], 1)],
    )
    def test_checking_a_token_is_one_query_and_its_users_rights_one_more_when_it_carries_them(
        self, erin, permissions, queries, rf, django_assert_num_queries
    ):
        request = rf.get(
            "/jobbergate/job-script-templates",
            HTTP_AUTHORIZATION=f"Bearer {issue_api_token(user=erin, permissions=permissions).token}",
        )
        with django_assert_num_queries(queries):
            user, principal = BearerTokenAuthentication().authenticate(request)
        assert user == erin
        assert principal.permissions == set(permissions)
