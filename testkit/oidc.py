"""A real OpenID provider for tests and benchmarks: panva's oidc-provider (Node), started on loopback.

``OpenIDProvider.start()`` writes the provider's settings (a fresh RSA signing key, the clients, the accounts),
runs ``node tests/oidc_provider/provider.mjs`` on a free port and waits for discovery. Tokens are obtained through
the real flows: the device flow scripted over HTTP (the provider's login form, no browser) and client credentials.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from jobbergate import choices
from jobbergate.choices import USER_PERMISSIONS, Permission
from testkit.server import free_port, stop_process

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "tests" / "oidc_provider"
AUDIENCE = "https://jobbergate.test/api"
CLI_CLIENT = "jobbergate-cli"
AGENT_CLIENT, AGENT_SECRET = "cluster-a", "agent-secret-for-tests-only"
ADMIN_CLIENT, ADMIN_SECRET = "jobbergate-admin", "admin-secret-for-tests-only"
# The upstream jobbergate-agent 5.12 sends its client secret in the form body (client_secret_post), not basic auth.
UPSTREAM_AGENT_CLIENT, UPSTREAM_AGENT_SECRET = "cluster-upstream", "upstream-agent-secret-for-tests-only"
AGENT_PERMISSIONS = list(choices.AGENT_PERMISSIONS)
ACCOUNTS = {
    "alice": {"email": "alice@example.com", "permissions": USER_PERMISSIONS},
    "bob": {"email": "bob@example.com", "permissions": USER_PERMISSIONS},
    "carol": {"email": "carol@example.com", "permissions": [Permission.ADMIN.value]},
    "dave": {"email": "dave@example.com", "permissions": [Permission.MAINTAINER.value]},
    "rita": {"email": "rita@example.com", "permissions": [Permission.TEMPLATES_READ.value]},
    "nomail": {"permissions": USER_PERMISSIONS},
    "quiet": {"email": "quiet@example.com", "email_only_in_userinfo": True, "permissions": USER_PERMISSIONS},
}


def node_available() -> bool:
    return bool(shutil.which("node") and shutil.which("npm"))


class _Forms(HTMLParser):
    """The forms of an HTML page: action and the named inputs and buttons with their values."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attributes.get("action") or "", "fields": {}})
        elif tag in ("input", "button") and self.forms and attributes.get("name"):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value") or ""


def submit_forms(session: requests.Session, page: requests.Response, *, login: str, steps: int = 8):
    """Fill and submit the provider's pages as a person would: confirm, log in (any password), continue."""
    for _ in range(steps):
        parser = _Forms()
        parser.feed(page.text)
        if not parser.forms:
            return page
        form = parser.forms[0]
        fields = {name: value for name, value in form["fields"].items() if name != "abort"}
        if "login" in fields:
            fields.update(login=login, password="any password")
        page = session.post(urljoin(page.url, form["action"]), data=fields, timeout=10)
    raise AssertionError("the provider's pages did not come to an end")


@dataclass
class OpenIDProvider:
    """A running oidc-provider process and what tests need of it."""

    port: int = field(default_factory=free_port)
    audience: str = AUDIENCE
    admin_redirect_uri: str = "http://127.0.0.1/oidc/callback/"
    process: subprocess.Popen | None = None
    private_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = "test-key-1"
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="jobbergate-oidc-")))

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def install() -> None:
        """``npm ci`` from the lock file when the provider's packages are not installed yet."""
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=PROVIDER_DIR,
                check=True,
                timeout=300,
            )

    def start(self) -> OpenIDProvider:
        self.install()
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        settings = {
            "port": self.port,
            "issuer": self.issuer,
            "audience": self.audience,
            "jwk": jwk,
            "accounts": ACCOUNTS,
            "clients": [
                {
                    "client_id": CLI_CLIENT,
                    "token_endpoint_auth_method": "none",
                    "application_type": "native",
                    "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
                    "response_types": [],
                    "redirect_uris": [],
                },
                {
                    "client_id": AGENT_CLIENT,
                    "client_secret": AGENT_SECRET,
                    "grant_types": ["client_credentials"],
                    "response_types": [],
                    "redirect_uris": [],
                    "permissions": AGENT_PERMISSIONS,
                },
                {
                    "client_id": UPSTREAM_AGENT_CLIENT,
                    "client_secret": UPSTREAM_AGENT_SECRET,
                    "token_endpoint_auth_method": "client_secret_post",
                    "grant_types": ["client_credentials"],
                    "response_types": [],
                    "redirect_uris": [],
                    "permissions": AGENT_PERMISSIONS,
                },
                {
                    "client_id": ADMIN_CLIENT,
                    "client_secret": ADMIN_SECRET,
                    "application_type": "native",
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                    "redirect_uris": [self.admin_redirect_uri],
                },
            ],
        }
        settings_file = self.folder / "settings.json"
        settings_file.write_text(json.dumps(settings))
        settings_file.chmod(0o600)
        self.log = (self.folder / "provider.log").open("w")
        self.process = subprocess.Popen(
            ["node", str(PROVIDER_DIR / "provider.mjs"), str(settings_file)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {(self.folder / 'provider.log').read_text()[-2000:]}")
            try:
                requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("oidc-provider did not answer within 30 s")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, seconds=10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def requests_served(self) -> int:
        """How many HTTP requests the provider has answered so far (it logs one line per request)."""
        self.log.flush()
        text = (self.folder / "provider.log").read_text()
        return sum(1 for line in text.splitlines() if line.startswith("request "))

    # Real flows -----------------------------------------------------------------------------------------------

    def client_credentials(self, client_id: str = AGENT_CLIENT, secret: str = AGENT_SECRET) -> str:
        response = requests.post(
            f"{self.issuer}/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def device_flow(self, account: str, client_id: str = CLI_CLIENT) -> dict:
        """The CLI's sign-in, scripted: ask for a device code, approve it as ``account``, then poll for tokens."""
        start = requests.post(
            f"{self.issuer}/device/auth",
            data={"client_id": client_id, "scope": "openid email offline_access"},
            timeout=10,
        )
        start.raise_for_status()
        codes = start.json()
        browser = requests.Session()
        done = submit_forms(browser, browser.get(codes["verification_uri_complete"], timeout=10), login=account)
        assert "Success" in done.text, done.text[:500]
        token = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": codes["device_code"],
                "client_id": client_id,
            },
            timeout=10,
        )
        token.raise_for_status()
        return token.json()
