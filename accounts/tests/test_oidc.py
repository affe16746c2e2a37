"""Bearer tokens from a real OpenID provider (oidc-provider on loopback), obtained through the real flows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.oidc import claim_at, configured_provider
from accounts.tokens import issue_api_token
from jobbergate.choices import Permission
from testkit.oidc import AGENT_CLIENT, AGENT_PERMISSIONS, OpenIDProvider

URL = "/jobbergate/job-script-templates"
User = get_user_model()
pytestmark = pytest.mark.django_db


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def forge(provider: OpenIDProvider, claims: dict, *, kid: str | None = None, key=None) -> str:
    """A token signed with the provider's own key (or another), to test claims the provider would not issue."""
    return jwt.encode(claims, key or provider.private_key, algorithm="RS256", headers={"kid": kid or provider.kid})


@pytest.fixture
def alice_token(oidc):
    return oidc.device_flow("alice")["access_token"]


class TestRealFlows:
    def test_a_device_flow_token_signs_alice_in_and_creates_her_user(self, oidc, alice_token):
        claims = claims_of(alice_token)
        assert claims["aud"] == oidc.audience
        assert claims["email"] == "alice@example.com"
        client = client_with(alice_token)
        created = client.post(URL, {"name": "from oidc", "identifier": "from-oidc"}, format="json")
        assert created.status_code == 201, created.content
        assert created.json()["owner_email"] == "alice@example.com"
        assert User.objects.get(username="alice@example.com").email == "alice@example.com"

    def test_a_client_credentials_token_is_a_cluster_agent(self, oidc):
        token = oidc.client_credentials()
        assert claims_of(token)["permissions"] == AGENT_PERMISSIONS
        client = client_with(token)
        assert client.get("/jobbergate/job-submissions").status_code == 200
        response = client.post(URL, {"name": "agents do not write applications"}, format="json")
        assert response.status_code == 403
        assert User.objects.filter(username=f"client:{AGENT_CLIENT}").exists()

    def test_server_issued_tokens_keep_working_beside_the_providers(self, oidc, alice_token):
        local_user = User.objects.create(username="local@example.com", email="local@example.com")
        local = issue_api_token(user=local_user, permissions=[Permission.TEMPLATES_READ.value]).token
        assert client_with(local).get(URL).status_code == 200
        assert client_with(alice_token).get(URL).status_code == 200

    def test_permissions_from_the_provider_are_enforced_with_403(self, oidc):
        rita = client_with(oidc.device_flow("rita")["access_token"])
        assert rita.get(URL).status_code == 200
        response = rita.post(URL, {"name": "nope"}, format="json")
        assert response.status_code == 403
        assert "jobbergate:job-templates:create" in response.json()["detail"]

    def test_no_request_reaches_the_provider_per_api_call(self, oidc, alice_token):
        client = client_with(alice_token)
        assert client.get(URL).status_code == 200
        before, served_before = configured_provider().requests_made, oidc.requests_served()
        for _ in range(20):
            assert client.get(URL).status_code == 200
        assert configured_provider().requests_made == before
        assert oidc.requests_served() == served_before

    def test_a_missing_email_is_fetched_once_from_userinfo(self, oidc, userinfo_stub):
        """oidc-provider (rightly) refuses resource-server tokens at its userinfo endpoint, while Auth0 accepts
        them there; so this one endpoint is a loopback stand-in speaking Auth0's userinfo contract. The token,
        its keys and discovery are the real provider's."""
        token = oidc.device_flow("quiet")["access_token"]
        assert "email" not in claims_of(token)
        client = client_with(token)
        client.get("/jobbergate/health")
        configured_provider().metadata()["userinfo_endpoint"] = userinfo_stub.url
        assert client.get(URL).status_code == 200
        assert client.get(URL).status_code == 200
        assert userinfo_stub.calls == [f"Bearer {token}"]
        assert User.objects.filter(email="quiet@example.com").exists()


@pytest.fixture
def userinfo_stub():
    """A loopback HTTP server answering userinfo requests like Auth0 does; records the Authorization headers."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append(self.headers.get("Authorization", ""))
            body = json.dumps({"sub": "quiet", "email": "quiet@example.com"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/userinfo"
    server.calls = calls
    yield server
    server.shutdown()


class TestRefusedTokens:
    @pytest.fixture
    def good_claims(self, oidc, alice_token):
        return claims_of(alice_token)

    def refused(self, token: str, fragment: str) -> None:
        users_before = User.objects.count()
        response = client_with(token).get(URL)
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert fragment in response.json()["detail"]
        assert User.objects.count() == users_before

    def test_expired(self, oidc, good_claims):
        self.refused(forge(oidc, {**good_claims, "exp": int(time.time()) - 3600}), "expired")

    def test_not_yet_valid(self, oidc, good_claims):
        self.refused(forge(oidc, {**good_claims, "nbf": int(time.time()) + 3600}), "not yet valid")

    def test_wrong_issuer(self, oidc, good_claims):
        self.refused(forge(oidc, {**good_claims, "iss": "http://127.0.0.1:1"}), "issuer")

    def test_wrong_audience(self, oidc, good_claims):
        self.refused(forge(oidc, {**good_claims, "aud": "https://other.example/api"}), "audience")

    def test_alg_none(self, oidc, good_claims):
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(json.dumps(good_claims).encode()).rstrip(b"=").decode()
        self.refused(f"{header}.{body}.", "'none' is not accepted")

    def test_hs256_signed_with_the_providers_public_key(self, oidc, good_claims):
        public_pem = oidc.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": oidc.kid}
        signing_input = b".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=") for part in (header, good_claims)
        )
        signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
        self.refused((signing_input + b"." + signature).decode(), "HS256")

    def test_tampered_payload(self, oidc, alice_token, good_claims):
        header, _, signature = alice_token.split(".")
        claims = {**good_claims, "permissions": [Permission.ADMIN.value]}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        self.refused(f"{header}.{body}.{signature}", "signature is invalid")

    def test_unknown_kid_after_exactly_one_refetch(self, oidc, good_claims):
        stranger = rsa.generate_private_key(65537, 2048)
        client_with(oidc.device_flow("bob")["access_token"]).get(URL)  # keys are cached now
        before = configured_provider().requests_made
        self.refused(forge(oidc, good_claims, kid="rotated-away", key=stranger), "unknown key")
        assert configured_provider().requests_made == before + 1

    @pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not-a-jwt"])
    def test_malformed_header(self, oidc, header):
        response = APIClient().get(URL, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["detail"]

    def test_missing_email_when_required(self, oidc):
        self.refused(oidc.device_flow("nomail")["access_token"], "e-mail is required")


class TestProviderOutage:
    @pytest.fixture
    def provider(self, settings):
        from accounts.oidc import reset_provider

        provider = OpenIDProvider().start()
        settings.OIDC_ISSUER_URL = provider.issuer
        settings.OIDC_AUDIENCE = [provider.audience]
        reset_provider()
        yield provider
        provider.remove()
        reset_provider()

    def test_without_cached_keys_a_call_gets_503(self, provider):
        token = provider.device_flow("alice")["access_token"]
        provider.stop()
        response = client_with(token).get(URL)
        assert response.status_code == 503
        assert "identity provider" in response.json()["detail"]

    def test_cached_keys_keep_serving_while_the_provider_is_down(self, provider):
        token = provider.device_flow("alice")["access_token"]
        client = client_with(token)
        assert client.get(URL).status_code == 200
        provider.stop()
        for _ in range(3):
            assert client.get(URL).status_code == 200


class TestClaimMapping:
    def test_keycloak_client_roles_by_dotted_path(self):
        claims = {"resource_access": {"jobbergate": {"roles": ["jobbergate:admin"]}}}
        assert claim_at(claims, "resource_access.jobbergate.roles") == ["jobbergate:admin"]

    def test_auth0_namespaced_claims_with_dots_in_the_name(self):
        claims = {"https://example.com/email": "a@example.com"}
        assert claim_at(claims, "https://example.com/email") == "a@example.com"

    def test_keycloak_roles_become_permissions(self, oidc, settings):
        from accounts.oidc import reset_provider

        settings.OIDC_PERMISSIONS_CLAIM = "resource_access.jobbergate.roles"
        reset_provider()
        claims = {
            "iss": oidc.issuer,
            "aud": oidc.audience,
            "exp": int(time.time()) + 600,
            "sub": "kc-user",
            "azp": "jobbergate-cli",
            "email": "kc@example.com",
            "resource_access": {"jobbergate": {"roles": [Permission.TEMPLATES_CREATE.value]}},
        }
        response = client_with(forge(oidc, claims)).post(URL, {"name": "kc"}, format="json")
        assert response.status_code == 201, response.content
