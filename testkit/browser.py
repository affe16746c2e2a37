"""A real headless Chromium (Debian's package) driven by Playwright, for the admin's and the portal's browser tests:
the page fixture, the Content-Security-Policy violations a tab saw, and signing in through the test OpenID provider.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import require_real_part

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every page of the tab adds what its Content-Security-Policy refused to one list (kept in sessionStorage, so it
# outlives navigation), for csp_violations() to read.
RECORD_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const seen = JSON.parse(sessionStorage.getItem("cspViolations") || "[]");
  seen.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
  sessionStorage.setItem("cspViolations", JSON.stringify(seen));
});
"""


def csp_violations(page) -> list[str]:
    """What the policy refused on every page of this origin the tab has shown."""
    return page.evaluate('JSON.parse(sessionStorage.getItem("cspViolations") || "[]")')


@pytest.fixture
def browser_page():
    if not shutil.which(CHROMIUM):
        require_real_part(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls made by the test itself are still
    # synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from django.db import connections

    try:
        with sync_playwright() as playwright:
            # While its event loop runs, Django keeps the test's database connections apart from the thread's own
            # (per context), and every browser test shares them: one opened by an earlier browser test outlives that
            # test, and a PostgreSQL restart since (tests/test_agents_exactly_once.py) leaves it dead. Each browser
            # test starts and ends without them.
            connections.close_all()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            page.add_init_script(RECORD_CSP_VIOLATIONS)
            yield page
            browser.close()
            connections.close_all()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def admin_sign_in(settings, oidc):
    """The admin offers OpenID sign-in through the session's provider (authorization code flow with PKCE)."""
    from testkit.oidc import ADMIN_CLIENT, ADMIN_SECRET

    settings.OIDC_RP_CLIENT_ID = ADMIN_CLIENT
    settings.OIDC_RP_CLIENT_SECRET = ADMIN_SECRET
    settings.OIDC_ADMIN_SIGN_IN = True
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.authentication.JobbergateOIDCBackend",
    ]
    return oidc


def sign_in_with_provider(
    page, base_url: str, account: str, *, start: str = "/admin/login/", link: str = "#oidc-sign-in a"
) -> None:
    """Open ``start``, follow its OpenID sign-in link and sign in as ``account`` at the test provider."""
    page.goto(f"{base_url}{start}")
    page.click(link)
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    # The provider's consent step, when it asks: a person clicks Continue.
    if page.locator("button[type=submit]", has_text="Continue").count():
        page.click("button[type=submit]:has-text('Continue')")
    page.wait_for_load_state()


def wait_until(page, expression: str, *, arg=None, timeout_s: float = 15) -> None:
    """Poll a JavaScript expression (or an ``arg => ...`` function) until it is true. Playwright's wait_for_function
    compiles its predicate inside the page, which the Content-Security-Policy (no eval) refuses; evaluate does not."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s:g} s: {expression}")
        page.wait_for_timeout(100)
