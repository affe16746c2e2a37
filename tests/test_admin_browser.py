"""The admin as an operator uses it, in a real headless Chromium (Debian's package) driven by Playwright.

Signs in, searches job scripts, opens one and reads its file, runs the clone action, and saves a screenshot to
``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from conftest import require_real_part
from jobbergate.testing.factories import make_job_script
from jobscripts.models import JobScript

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

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page():
    if not shutil.which(CHROMIUM):
        require_real_part(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls made by the test itself are still
    # synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            yield page
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


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

    clone = JobScript.objects.exclude(pk=wanted.pk).get(name="weather model")
    assert clone.cloned_from_id == wanted.pk
    assert clone.owner_email == "carol@example.com"
    assert clone.files.count() == 2
