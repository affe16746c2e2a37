"""The web portal as an HPC user uses it: real Chromium, the real OpenID provider, the project's agent and Slurm.

An ordinary user signs in through the provider, finds an application, fills its form (a ``when`` question
appears), sees the preview follow, submits to the throw-away Slurm cluster with our agent running, watches the page
reach DONE by itself, loads the parameters back, saves and uses a preset, and cancels a long job. The same form
on a phone and by keyboard alone. Screenshots go to ``test-artifacts/portal-*.png`` (the README shows two).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from portal.forms import answer_input
from portal.models import Preset
from submissions.models import ClusterStatus, JobSubmission
from testkit.browser import ARTIFACTS, csp_violations, sign_in_with_provider, wait_until
from testkit.factories import make_example_application
from tests.conftest import JOBBERGATE
from tests.test_agent_output import COUNTING
from tests.test_agent_slurm import submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


@pytest.fixture
def running_agent(api):
    """Our agent, running as its own process every 2 s against the live server, until the test ends."""
    log = Path(api.environment["JOBBERGATE_AGENT_CACHE_DIR"]).parent / "agent.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [JOBBERGATE, "agent", "run", "--interval", "2"],
            env=api.environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not ClusterStatus.objects.filter(client_id="cluster-a").exists():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"the agent never reported: {log.read_text()[-2000:]}"
                time.sleep(0.5)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def signed_in(live_server, browser_page, admin_sign_in):
    """alice, an ordinary user, signed in to the portal through the OpenID provider."""
    base = live_server.url.replace("localhost", "127.0.0.1")  # the provider accepts the loopback redirect
    sign_in_with_provider(browser_page, base, "alice", start="/sign-in/", link="#oidc-sign-in a")
    browser_page.wait_for_selector("h1:has-text('Applications')")
    return browser_page, base


def fill_field(page, name: str, value: str) -> None:
    page.fill(f"[name={name}]", value)


def fill_answer(page, question: str, value: str) -> None:
    page.fill(f'[name="{answer_input(question)}"]', value)


def wait_for_script(page, text: str) -> None:
    """The preview's entrypoint shows ``text`` (the preview is replaced as the user types, so it may be gone a
    moment)."""
    wait_until(page, "text => (document.getElementById('entrypoint') || {value: ''}).value.includes(text)", arg=text)


def wait_for_status(page, wanted: str, timeout_s: float = 150) -> None:
    """The status on the submission page, which refreshes itself (no reload here)."""
    wait_until(
        page,
        "wanted => (document.getElementById('status-word') || {}).textContent === wanted",
        arg=wanted,
        timeout_s=timeout_s,
    )


def test_an_ordinary_user_goes_from_sign_in_to_a_finished_job_and_back_to_run_it_again(
    signed_in, running_agent, submitter_workdir
):
    page, base = signed_in
    make_example_application("gpu-training")
    make_example_application("hello-serial")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))

    # The catalogue, searched.
    page.goto(f"{base}/?q=gpu")
    assert page.locator(".card").count() == 1
    shot(page, "catalogue")
    page.click(".card h2 a")

    # The form from the typed questions: the scratch folder appears only once scratch is chosen.
    page.wait_for_selector("#preview figure")
    scratch = page.locator("[data-question=scratch_dir]")
    assert scratch.is_hidden()
    page.check("#q-use_scratch")
    scratch.wait_for(state="visible")
    # The preview follows the answers.
    fill_answer(page, "gpus", "3")
    wait_for_script(page, "--gres=gpu:3")
    # A wrong answer is shown next to its field, as the API words it.
    fill_answer(page, "gpus", "12")
    page.wait_for_selector("#errors-answer-gpus li:has-text('must be at most 8')")
    fill_answer(page, "gpus", "2")
    wait_for_script(page, "--gres=gpu:2")
    # An edited script is not replaced without a word.
    page.fill("#entrypoint", "#!/bin/bash\necho my own edit\n")
    fill_answer(page, "epochs", "20")
    page.wait_for_selector("#edit-warning")
    assert "my own edit" in page.input_value("#entrypoint")
    shot(page, "form")
    page.click("#replace-edit")
    wait_for_script(page, "--gres=gpu:2")

    # A real job: hello-serial to the throw-away cluster, through our agent.
    page.goto(f"{base}/applications/hello-serial/")
    page.wait_for_selector("#preview figure")
    fill_answer(page, "message", "the portal says hi")
    fill_field(page, "execution_directory", str(submitter_workdir))
    assert page.input_value("#id_cluster") == "cluster-a"  # the one cluster, healthy, is chosen
    page.click("#submit")
    page.wait_for_url(f"{base}/submissions/*/")
    wait_for_status(page, "DONE")
    shot(page, "submission")
    submission = JobSubmission.objects.get()
    assert submission.status == "DONE" and submission.slurm_job_id
    output = list(submitter_workdir.glob("*.out"))
    assert output and "the portal says hi" in output[0].read_text()

    # Run it again with these answers: the form opens with them; keep them as a preset, and use it.
    page.click("text=Load parameters")
    page.wait_for_selector("#loaded-from")
    assert page.input_value(f'[name="{answer_input("message")}"]') == "the portal says hi"
    fill_field(page, "preset_name", "greeting")
    page.click("button:has-text('Save preset')")
    page.wait_for_selector(".messages li:has-text('Saved the preset')")
    preset = Preset.objects.get(owner_email="alice@example.com")
    assert preset.answers["message"] == "the portal says hi"
    page.goto(f"{base}/applications/hello-serial/")
    page.click(f".preset-list a[href='?preset={preset.pk}']")
    page.wait_for_selector("#loaded-from:has-text('greeting')")
    assert page.input_value(f'[name="{answer_input("message")}"]') == "the portal says hi"

    # The history shows it, and nothing was asked of another host or refused by the policy.
    page.goto(f"{base}/submissions/?status=done")
    assert page.locator("table.rows tbody tr").count() == 1
    shot(page, "history")
    assert [url for url in sent if not url.startswith(base)] == []
    assert csp_violations(page) == []


def test_the_output_panel_follows_a_running_job_and_offers_the_whole_file(signed_in, running_agent, submitter_workdir):
    page, base = signed_in
    row = submit("alice@example.com", COUNTING.format(lines=15, pause=1), submitter_workdir)
    page.goto(f"{base}/submissions/{row.pk}/")
    # Live: the first line is on the page while the job is still printing (the panel polls with htmx by offset).
    shown = "id => (document.getElementById(id) || {textContent: ''}).textContent"
    wait_until(page, f"() => ({shown})('log-stdout').includes('line 1 ')", timeout_s=120)
    assert "line 15 " not in page.evaluate(shown, "log-stdout")
    # To the end: every line once, in order, and the panel stops asking once the agent has completed the stream.
    page.wait_for_selector("#log-stdout .output-end", state="attached", timeout=120_000)
    page.wait_for_selector("#log-stderr .output-end", state="attached", timeout=30_000)
    lines = page.evaluate(shown, "log-stdout").splitlines()
    assert [line.split(" at ")[0] for line in lines] == [f"line {n}" for n in range(1, 16)]
    assert page.evaluate(shown, "log-stderr").splitlines() == [f"warning {n}" for n in range(1, 16)]
    # The download is the file on the cluster, byte for byte.
    href = page.get_attribute("#log-stdout >> xpath=.. >> a:has-text('Download')", "href")
    download = page.request.get(f"{base}{href}")
    assert download.ok and download.body() == (submitter_workdir / "counting.out").read_bytes()
    wait_for_status(page, "DONE")
    assert csp_violations(page) == []


def test_a_long_job_is_cancelled_from_its_page(signed_in, running_agent, submitter_workdir):
    page, base = signed_in
    make_example_application("hello-serial")
    page.goto(f"{base}/applications/hello-serial/")
    page.wait_for_selector("#preview figure")
    fill_field(page, "execution_directory", str(submitter_workdir))
    fill_field(page, "sbatch_params", "--begin=now+1hour")  # it waits in the queue: long enough to cancel
    wait_for_script(page, "#SBATCH --begin=now+1hour")
    page.click("#submit")
    page.wait_for_url(f"{base}/submissions/*/")
    wait_for_status(page, "SUBMITTED")
    page.click("#cancel")
    page.wait_for_selector(".messages li:has-text('Cancelled submission')")
    submission = JobSubmission.objects.get()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # the agent runs scancel and reports Slurm's final state
        submission.refresh_from_db()
        if submission.slurm_job_state == "CANCELLED":
            break
        time.sleep(1)
    assert submission.status == "CANCELLED" and submission.slurm_job_state == "CANCELLED"
    state = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "State", "-j", str(submission.slurm_job_id)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert state.strip().startswith("CANCELLED")


def test_the_form_works_on_a_phone_and_by_keyboard_and_labels_every_input(signed_in):
    page, base = signed_in
    make_example_application("gpu-training")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/applications/gpu-training/")
    page.wait_for_selector("#preview figure")
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "phone")

    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map(el => el.name || el.id)"""
    )
    assert unlabelled == []

    # Keyboard only: from the top of the page, Tab reaches the first question and typing changes the preview.
    page.focus("body")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.name") == answer_input("gpus"):
            break
    else:
        pytest.fail("Tab never reached the first question")
    page.keyboard.press("Control+A")
    page.keyboard.type("4")
    wait_for_script(page, "--gres=gpu:4")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == answer_input("epochs")
    assert csp_violations(page) == []


def test_a_provider_account_without_an_e_mail_is_turned_away_with_the_reason(live_server, browser_page, admin_sign_in):
    base = live_server.url.replace("localhost", "127.0.0.1")
    sign_in_with_provider(browser_page, base, "nomail", start="/sign-in/", link="#oidc-sign-in a")
    browser_page.wait_for_selector("h1:has-text('Sign in')")
    assert "it needs an e-mail address" in browser_page.inner_text("main")
    assert browser_page.url.startswith(f"{base}/sign-in/?oidc=refused")
