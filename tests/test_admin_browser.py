"""The admin as an operator uses it, in a real headless Chromium (Debian's package) driven by Playwright.

Signs in, searches job scripts, opens one and reads its file, runs the clone action, and saves a screenshot to
``test-artifacts/``.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobscripts.models import JobScript
from testkit.browser import ARTIFACTS, csp_violations, sign_in_with_provider
from testkit.factories import make_job_script

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_finds_reads_and_clones_a_job_script(live_server, browser_page):
    get_user_model().objects.create_superuser("carol", "carol@example.com", "a-long-test-password")
    wanted = make_job_script("alice@example.com", name="weather model")
    make_job_script("alice@example.com", name="protein folding")
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "carol")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    page.goto(f"{live_server.url}/admin/jobscripts/jobscript/")
    page.fill("#searchbar", "weather")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "weather model" in rows.first.inner_text()

    page.click("#result_list tbody tr th a")
    page.wait_for_selector("pre.jobbergate-file")
    contents = page.locator("pre.jobbergate-file").all_inner_texts()
    assert any("echo hello" in text for text in contents)

    page.goto(f"{live_server.url}/admin/jobscripts/jobscript/?q=weather")
    page.check("#result_list tbody tr input.action-select")
    page.select_option("select[name=action]", "clone")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "Created 1 clone(s)" in page.locator(".messagelist").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-clone.png"), full_page=True)

    assert csp_violations(page) == []

    clone = JobScript.objects.exclude(pk=wanted.pk).get(name="weather model")
    assert clone.cloned_from_id == wanted.pk
    assert clone.owner_email == "carol@example.com"
    assert clone.files.count() == 2


def test_the_api_docs_load_their_local_scripts_within_the_content_security_policy(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/jobbergate/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Jobbergate API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag")
    assert csp_violations(page) == []

    page.goto(f"{live_server.url}/jobbergate/redoc")
    page.wait_for_selector("h1")
    assert "Jobbergate API" in page.inner_text("h1")
    page.wait_for_selector("[data-section-id]")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-redoc.png"))
    # ReDoc's bundle is served without the logo it asked of its maker's site: nothing for the policy to refuse.
    assert csp_violations(page) == []


def test_an_admin_signs_in_to_the_admin_through_the_provider(live_server, browser_page, admin_sign_in):
    # The provider accepts the loopback redirect on any port for this (native) client; use 127.0.0.1.
    base_url = live_server.url.replace("localhost", "127.0.0.1")
    sign_in_with_provider(browser_page, base_url, "carol")
    browser_page.wait_for_selector("#user-tools")
    assert "carol@example.com" in browser_page.locator("#user-tools").inner_text().lower()
    ARTIFACTS.mkdir(exist_ok=True)
    browser_page.screenshot(path=str(ARTIFACTS / "admin-oidc-sign-in.png"), full_page=True)
    carol = get_user_model().objects.get(email="carol@example.com")
    assert carol.is_superuser and carol.is_staff


def test_a_user_without_admin_permissions_is_turned_away(live_server, browser_page, admin_sign_in):
    base_url = live_server.url.replace("localhost", "127.0.0.1")
    sign_in_with_provider(browser_page, base_url, "alice")
    assert "may not enter the admin" in browser_page.content()
    assert not get_user_model().objects.filter(email="alice@example.com", is_staff=True).exists()


def test_a_maintainer_signs_in_and_works_on_the_resources(live_server, browser_page, admin_sign_in):
    base_url = live_server.url.replace("localhost", "127.0.0.1")
    sign_in_with_provider(browser_page, base_url, "dave")
    browser_page.wait_for_selector("#user-tools")
    assert "Job scripts" in browser_page.inner_text("#content")
    browser_page.goto(f"{base_url}/admin/jobscripts/jobscript/")
    assert browser_page.locator("#changelist").count() == 1
    dave = get_user_model().objects.get(email="dave@example.com")
    assert dave.is_staff and not dave.is_superuser


def test_no_page_asks_anything_of_another_host(live_server, browser_page):
    """Issue 11, item 7: offline means offline. Every request the browser sends while the admin's sign-in page, the
    admin, Swagger UI and ReDoc load goes to this server (what the Content-Security-Policy refuses is never sent)."""
    page = browser_page
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    user = get_user_model().objects.create_superuser("offline", "offline@example.com", "pw-for-a-test")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-a-test")
    page.click("input[type=submit]")
    page.wait_for_selector("#content")
    page.goto(f"{live_server.url}/jobbergate/docs")
    page.wait_for_selector(".opblock-tag")
    page.goto(f"{live_server.url}/jobbergate/redoc")
    page.wait_for_selector("[data-section-id]")
    page.wait_for_load_state("networkidle")
    assert sent
    elsewhere = [url for url in sent if not url.startswith((live_server.url, "data:", "blob:"))]
    assert elsewhere == []
    # The headings are the operations' summaries (sentences), not their operation ids.
    assert page.locator("text=Render an application with your answers into a new job script").count() >= 1
