"""Server-issued API tokens: signing, every way a bearer token must be refused, revocation, the commands."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from io import StringIO

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.keys import signing_key
from accounts.models import ApiToken
from accounts.principal import principal_for_user
from accounts.tokens import issue_api_token
from jobbergate.choices import AGENT_PERMISSIONS, USER_PERMISSIONS, Permission

URL = "/jobbergate/job-script-templates"
User = get_user_model()


def call(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(URL)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def resign(claims: dict, *, key=None, algorithm="RS256", kid=None) -> str:
    key = key or signing_key().private_key
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid or signing_key().kid})


@pytest.fixture
def user(db):
    return User.objects.create_user("alice", "alice@example.com")


@pytest.fixture
def token(user):
    return issue_api_token(user=user, permissions=[Permission.TEMPLATES_READ.value]).token


@pytest.mark.django_db
class TestIssuedTokens:
    def test_a_token_carries_the_claims_an_oidc_provider_would(self, token, user):
        claims = claims_of(token)
        assert claims["email"] == "alice@example.com"
        assert claims["permissions"] == [Permission.TEMPLATES_READ.value]
        assert claims["iss"] == settings.TOKEN_ISSUER
        assert claims["aud"] == settings.TOKEN_AUDIENCE
        assert {"exp", "jti", "azp", "iat"} <= set(claims)
        assert jwt.get_unverified_header(token)["alg"] == "RS256"

    def test_only_the_jti_is_stored_never_the_token(self, token):
        row = ApiToken.objects.get()
        assert row.jti == claims_of(token)["jti"]
        assert all(token not in str(value) for value in row.__dict__.values())

    def test_a_valid_token_is_accepted(self, token):
        assert call(token).status_code == 200

    def test_a_revoked_token_gets_401(self, token):
        ApiToken.objects.update(revoked_at="2020-01-01T00:00:00Z")
        response = call(token)
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]

    def test_a_disabled_users_token_gets_401(self, token, user):
        user.is_active = False
        user.save()
        assert call(token).json()["detail"] == "The account of this token is disabled"

    def test_the_signing_key_file_is_private(self, token):
        mode = stat.S_IMODE(os.stat(settings.TOKEN_SIGNING_KEY_FILE).st_mode)
        assert mode == 0o600


@pytest.mark.django_db
class TestCheckedOnce:
    """A token's signature is checked once per process; what can change after that is checked on every request."""

    def test_a_token_revoked_after_its_first_use_is_refused_at_once(self, token):
        assert call(token).status_code == 200
        ApiToken.objects.update(revoked_at="2020-01-01T00:00:00Z")
        assert call(token).status_code == 401

    def test_a_token_that_expires_after_its_first_use_is_refused(self, token, settings):
        settings.TOKEN_LEEWAY_SECONDS = 0
        short = resign({**claims_of(token), "exp": int(time.time()) + 2})
        assert call(short).status_code == 200
        time.sleep(max(0.0, claims_of(short)["exp"] - time.time()) + 0.1)
        response = call(short)
        assert response.status_code == 401 and response.json()["detail"] == "Token has expired"

    def test_after_a_key_change_the_signature_is_checked_again(self, token, settings, tmp_path):
        assert call(token).status_code == 200
        settings.TOKEN_SIGNING_KEY_FILE = str(tmp_path / "another-key.pem")  # the server's key replaced
        assert call(token).json()["detail"] == "Token was signed with an unknown key (kid)"

    def test_after_an_audience_change_the_token_is_checked_again(self, token, settings):
        assert call(token).status_code == 200
        settings.TOKEN_AUDIENCE = "another-audience"
        assert call(token).json()["detail"] == "Token audience is not accepted"

    def test_a_forged_token_never_enters(self, token):
        header, payload, signature = token.split(".")
        forged = ".".join([header, payload, signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")])
        assert call(forged).status_code == 401
        assert call(forged).status_code == 401  # refused again: a refused token is never kept
        assert call(token).status_code == 200


@pytest.mark.django_db
class TestRefusedTokens:
    def test_an_expired_token_gets_401(self, token):
        claims = {**claims_of(token), "exp": int(time.time()) - 3600}
        response = call(resign(claims))
        assert response.status_code == 401
        assert response.json()["detail"] == "Token has expired"
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_a_token_not_yet_valid_gets_401(self, token):
        claims = {**claims_of(token), "nbf": int(time.time()) + 3600}
        assert call(resign(claims)).json()["detail"] == "Token is not yet valid"

    def test_a_wrong_audience_gets_401(self, token):
        claims = {**claims_of(token), "aud": "someone-else"}
        assert call(resign(claims)).json()["detail"] == "Token audience is not accepted"

    def test_a_foreign_issuer_gets_401(self, token):
        claims = {**claims_of(token), "iss": "https://evil.example"}
        assert call(resign(claims)).json()["detail"] == "Token issuer is not trusted"

    def test_a_token_signed_by_another_key_gets_401(self, token):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        response = call(resign(claims_of(token), key=other))
        assert response.status_code == 401
        assert response.json()["detail"] == "Token signature is invalid"

    def test_an_unknown_kid_gets_401(self, token):
        assert "unknown key" in call(resign(claims_of(token), kid="nope")).json()["detail"]

    def test_alg_none_gets_401(self, token):
        header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(claims_of(token)).encode()).rstrip(b"=")
        response = call(f"{header.decode()}.{body.decode()}.")
        assert response.status_code == 401
        assert "'none' is not accepted" in response.json()["detail"]

    def test_hs256_signed_with_the_public_key_gets_401(self, token):
        public_pem = signing_key().public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": signing_key().kid}
        signing_input = b".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=") for part in (header, claims_of(token))
        )
        import hashlib
        import hmac

        signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
        response = call((signing_input + b"." + signature).decode())
        assert response.status_code == 401
        assert "HS256" in response.json()["detail"]

    def test_a_tampered_payload_gets_401(self, token):
        header, _, signature = token.split(".")
        claims = {**claims_of(token), "permissions": [Permission.ADMIN.value]}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        assert call(f"{header}.{body}.{signature}").json()["detail"] == "Token signature is invalid"

    @pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer \xff"])
    def test_a_malformed_header_gets_401(self, header, db):
        client = APIClient()
        response = client.get(URL, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["detail"]

    def test_no_user_is_created_for_a_refused_token(self, token):
        before = User.objects.count()
        claims = {**claims_of(token), "email": "new@example.com", "exp": int(time.time()) - 10_000}
        call(resign(claims))
        assert User.objects.count() == before


@pytest.mark.django_db
class TestCommands:
    def test_create_api_token_prints_a_working_token_last(self, user):
        out = StringIO()
        call_command(
            "create_api_token",
            "--user",
            "alice",
            "--permissions",
            "jobbergate:job-templates:read",
            "--expires-in",
            "2",
            stdout=out,
        )
        token = out.getvalue().strip().splitlines()[-1]
        assert call(token).status_code == 200
        assert claims_of(token)["exp"] - time.time() == pytest.approx(2 * 86400, abs=60)

    def test_create_api_token_can_issue_a_cluster_token(self, db):
        out = StringIO()
        call_command(
            "create_api_token", "--cluster", "cluster-a", "--permissions", "jobbergate:job-submissions:read", stdout=out
        )
        token = out.getvalue().strip().splitlines()[-1]
        claims = claims_of(token)
        assert claims["azp"] == "cluster-a"
        assert claims["client_id"] == "cluster-a"
        assert claims["email"] is None
        assert call(token).status_code == 403  # a cluster may not read applications
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.get("/jobbergate/job-submissions/agent/pending").status_code == 200

    def test_a_cluster_token_without_permissions_carries_what_the_agent_calls(self, db):
        out = StringIO()
        call_command("create_api_token", "--cluster", "my-cluster", stdout=out)
        token = out.getvalue().strip().splitlines()[-1]
        assert claims_of(token)["permissions"] == sorted(AGENT_PERMISSIONS)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.put("/jobbergate/clusters/status?interval=30").status_code == 202  # was a 403
        assert client.get("/jobbergate/job-submissions/agent/pending").status_code == 200
        assert client.get("/jobbergate/clusters/status").status_code == 403  # not the agent's business

    def test_permissions_given_for_a_cluster_replace_the_agents(self, db):
        out = StringIO()
        call_command(
            "create_api_token", "--cluster", "c", "--permissions", Permission.SUBMISSIONS_READ.value, stdout=out
        )
        assert claims_of(out.getvalue().strip().splitlines()[-1])["permissions"] == [Permission.SUBMISSIONS_READ.value]

    def test_a_persons_token_without_permissions_carries_an_ordinary_users(self, user):
        out = StringIO()
        call_command("create_api_token", "--user", "alice", stdout=out)
        permissions = claims_of(out.getvalue().strip().splitlines()[-1])["permissions"]
        assert permissions == sorted(USER_PERMISSIONS)
        assert Permission.ADMIN.value not in permissions and Permission.MAINTAINER.value not in permissions

    @pytest.mark.parametrize(
        "arguments, message",
        [
            (["--user", "ghost"], "no user"),
            (["--user", "alice", "--permissions", "jobbergate:everything"], "Unknown permission"),
            (["--user", "alice", "--expires-in", "0"], "at least 1 day"),
        ],
    )
    def test_create_api_token_refuses_bad_input(self, user, arguments, message):
        with pytest.raises(CommandError, match=message):
            call_command("create_api_token", *arguments, stdout=StringIO())
        assert not ApiToken.objects.exists()

    def test_bootstrap_creates_the_admin_once_and_keeps_secrets_private(self, db, tmp_path):
        path = tmp_path / "admin.json"
        out = StringIO()
        call_command("bootstrap_local_admin", "--credentials-file", str(path), stdout=out)
        stored = json.loads(path.read_text())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stored["password"] in out.getvalue()
        assert User.objects.get(username="admin").check_password(stored["password"])
        assert claims_of(stored["api_token"])["permissions"] == [Permission.ADMIN.value]
        again = StringIO()
        call_command("bootstrap_local_admin", "--credentials-file", str(path), stdout=again)
        assert stored["password"] not in again.getvalue()
        assert User.objects.filter(username="admin").count() == 1


@pytest.mark.django_db
class TestSessionPrincipal:
    def test_a_superuser_is_admin(self):
        admin = User.objects.create_superuser("root", "root@example.com", "pw")
        assert principal_for_user(admin).is_admin

    def test_groups_named_after_permissions_grant_them(self):
        maintainer = User.objects.create_user("m", "m@example.com")
        maintainer.groups.add(Group.objects.create(name=Permission.MAINTAINER.value), Group.objects.create(name="x"))
        principal = principal_for_user(maintainer)
        assert principal.permissions == {Permission.MAINTAINER.value}
        assert principal.is_privileged
