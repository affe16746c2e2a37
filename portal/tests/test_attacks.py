"""The portal under attack by an ordinary user (or a stranger): forged forms, odd query strings, other users' rows,
sessions with fewer rights, and requests meant to hold the workers others need.

Each test names what the portal should do; a test that fails today says in a comment what happens instead.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.principal import SESSION_PERMISSIONS
from jobbergate.choices import Permission
from jobbergate.errors import Busy
from jobbergate.fairness import heavy_request
from jobbergate.principal import Principal
from jobscripts.models import JobScript
from portal.models import Preset
from portal.tests.conftest import browser
from portal.tests.test_pages import as_posted, form_data
from submissions.choices import JobSubmissionStatus
from submissions.models import JobSubmission
from testkit.factories import make_example_application, make_submission

ALICE = "alice@example.com"


def reader_browser(email: str = ALICE) -> Client:
    """A session signed in through the OpenID provider whose token granted reading only."""
    client = browser(email)
    session = client.session
    session[SESSION_PERMISSIONS] = [
        Permission.TEMPLATES_READ.value,
        Permission.SCRIPTS_READ.value,
        Permission.SUBMISSIONS_READ.value,
    ]
    session.save()
    return client


@contextmanager
def no_nul_sent_to_the_database():
    """PostgreSQL refuses text with NUL (psycopg raises DataError: a 500); SQLite takes it. Whatever a client sends,
    no query may carry a NUL, so what passes here passes on PostgreSQL too."""
    carrying = []

    def watch(execute, sql, params, many, context):
        rows = params if many else [params]
        if any(isinstance(value, str) and "\x00" in value for row in rows or [] for value in row or []):
            carrying.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        yield
    assert not carrying, carrying


# Query strings and paths ---------------------------------------------------------------------------------------


class TestQueryStrings:
    @pytest.mark.parametrize(
        "query",
        [
            "page=" + "9" * 30,
            "page=-1",
            "page=1e5",
            "page=" + "9" * 5000,
            "page=%00",
            "q=%00%00" + "x" * 100_000,
            "q=%25_%5C",
            "status=" + "x" * 1000,
            "sort=" + "%00" * 10,
        ],
    )
    def test_odd_query_strings_answer_a_page(self, alice_browser, gpu, query):
        make_submission(ALICE)
        for path in ["/", "/submissions/", "/job-scripts/"]:
            assert alice_browser.get(f"{path}?{query}").status_code == 200, path

    def test_an_unknown_sort_is_not_carried_into_the_pages_links(self, alice_browser, db):
        make_submission(ALICE, name="mine")
        page = alice_browser.get("/submissions/?sort=newest%26status%3Dfailed").content.decode()
        # Now: the raw sort is echoed into every facet link, so a crafted link injects parameters into the page.
        links = re.findall(r'href="\?[^"]*"', page)  # the facet and page links (the form's own "next" is the URL)
        assert links and not any("newest%26" in link or "sort=newest&amp;status=failed" in link for link in links)

    def test_an_unknown_status_is_not_echoed_into_the_page(self, alice_browser, db):
        page = alice_browser.get("/submissions/?status=-+your+account+is+locked,+call+555-0100").content.decode()
        # Now: "No submissions - your account is locked, call 555-0100." (any text a link carries, on our page).
        assert "555-0100" not in page

    @pytest.mark.parametrize(
        "key", ["%00", "gpu-training%00", "x" * 5000, "..", "%2e%2e", "99999999999999999999", "-1", "%F0%9F%92%A5"]
    )
    def test_an_odd_application_key_is_a_404(self, alice_browser, gpu, key):
        with no_nul_sent_to_the_database():
            assert alice_browser.get(f"/applications/{key}/").status_code == 404
            assert alice_browser.post(f"/applications/{key}/preview", form_data()).status_code == 404
            assert alice_browser.post(f"/applications/{key}/presets", form_data(preset_name="p")).status_code == 404

    def test_a_file_name_with_nul_never_reaches_the_database(self, alice_browser, db):
        job_script = make_submission(ALICE).job_script
        with no_nul_sent_to_the_database():
            # Now: the name goes into the query as is (SQLite answers 404; PostgreSQL raises DataError, a 500).
            assert alice_browser.get(f"/job-scripts/{job_script.pk}/files/job.sh%00").status_code == 404

    @pytest.mark.parametrize("parameter", ["from-submission", "from-job-script", "preset"])
    @pytest.mark.parametrize("value", ["%00", "1" * 40, "-1", "abc", "%D9%A1", ""])
    def test_odd_load_parameters_never_answer_a_500(self, alice_browser, gpu, parameter, value):
        response = alice_browser.get(f"/applications/gpu-training/?{parameter}={value}")
        assert response.status_code in (200, 404)


# Other users' rows -------------------------------------------------------------------------------------------------


class TestOtherUsersRows:
    def test_another_users_job_script_cannot_be_loaded_into_the_form(self, alice_browser, gpu):
        theirs = make_submission("bob@example.com").job_script
        theirs.render_parameters = {"data": {"gpus": 7}}
        theirs.save()
        response = alice_browser.get(f"/applications/gpu-training/?from-job-script={theirs.pk}")
        assert response.status_code == 404

    def test_another_users_job_script_cannot_be_submitted_from_its_page(self, alice_browser, cluster):
        theirs = make_submission("bob@example.com").job_script
        response = alice_browser.post(f"/job-scripts/{theirs.pk}/", {"name": "mine now", "cluster": "cluster-a"})
        assert response.status_code == 404
        assert not JobSubmission.objects.filter(name="mine now").exists()

    def test_another_users_presets_are_not_listed_on_the_form(self, alice_browser, gpu):
        Preset.objects.create(owner_email="bob@example.com", application=gpu, name="bobs secret", answers={})
        assert "bobs secret" not in alice_browser.get("/applications/gpu-training/").content.decode()

    def test_a_preset_of_another_application_is_not_loaded(self, alice_browser, gpu):
        hello = make_example_application("hello-serial")
        mine = Preset.objects.create(owner_email=ALICE, application=hello, name="hello one", answers={"gpus": 7})
        page = alice_browser.get(f"/applications/gpu-training/?preset={mine.pk}").content.decode()
        assert "hello one" not in page and 'value="7"' not in page

    def test_saving_a_preset_under_another_users_name_keeps_theirs(self, alice_browser, gpu):
        theirs = Preset.objects.create(owner_email="bob@example.com", application=gpu, name="same", answers={"gpus": 7})
        alice_browser.post("/applications/gpu-training/presets", form_data(gpus="2", preset_name="same"))
        assert Preset.objects.get(pk=theirs.pk).answers == {"gpus": 7}
        assert Preset.objects.get(owner_email=ALICE).answers["gpus"] == 2

    def test_the_last_answers_are_the_users_own(self, alice_browser, gpu, cluster):
        browser("bob@example.com").post("/applications/gpu-training/", form_data(gpus="7", dataset="/bob/secret"))
        page = alice_browser.get("/applications/gpu-training/").content.decode()
        assert "/bob/secret" not in page and "your last run" not in page

    def test_bulk_cancel_ignores_thousands_of_ids_beyond_one_page(self, alice_browser, db):
        theirs = make_submission("bob@example.com")
        mine = [make_submission(ALICE) for _ in range(3)]
        ids = ["x"] * 60 + [str(row.pk) for row in mine] + [str(theirs.pk)]
        with CaptureQueriesContext(connection) as queries:
            response = alice_browser.post("/submissions/cancel", {"ids": ids})
        assert response.status_code == 302 and len(queries) < 20
        assert JobSubmission.objects.get(pk=theirs.pk).status == JobSubmissionStatus.CREATED

    def test_a_user_without_e_mail_sees_nobodys_rows(self, db, gpu):
        make_submission("")
        user = get_user_model().objects.create_user("noemail")
        client = Client()
        client.force_login(user)
        row = JobSubmission.objects.get()
        assert row.name not in client.get("/submissions/").content.decode()
        assert client.get(f"/submissions/{row.pk}/").status_code == 404
        assert client.get(f"/job-scripts/{row.job_script_id}/").status_code == 404
        assert client.post("/applications/gpu-training/presets", form_data(preset_name="p")).status_code == 302
        assert not Preset.objects.exists()


# Sessions with fewer rights ------------------------------------------------------------------------------------


class TestPermissions:
    """A person signed in through the provider holds what their token granted (principal_for_session), as they
    would with the API: reading only, here."""

    def test_a_read_only_session_cannot_cancel(self, db):
        row = make_submission(ALICE)
        reader_browser().post(f"/submissions/{row.pk}/cancel")
        # Now: CANCELLED. The API needs jobbergate:job-submissions:update; the portal checks nothing.
        assert JobSubmission.objects.get(pk=row.pk).status == JobSubmissionStatus.CREATED

    def test_a_read_only_session_cannot_bulk_cancel(self, db):
        row = make_submission(ALICE)
        reader_browser().post("/submissions/cancel", {"ids": [row.pk]})
        # Now: CANCELLED.
        assert JobSubmission.objects.get(pk=row.pk).status == JobSubmissionStatus.CREATED

    def test_a_read_only_session_cannot_submit_a_job_script(self, cluster):
        job_script = make_submission(ALICE).job_script
        reader_browser().post(f"/job-scripts/{job_script.pk}/", {"name": "sneaky", "cluster": "cluster-a"})
        # Now: a new submission is created. The API needs jobbergate:job-submissions:create.
        assert not JobSubmission.objects.filter(name="sneaky").exists()

    def test_a_read_only_session_cannot_create_or_rerun(self, gpu, cluster):
        row = make_submission(ALICE)
        client = reader_browser()
        assert client.post("/applications/gpu-training/", form_data()).status_code == 403
        assert client.post(f"/submissions/{row.pk}/rerun").status_code == 403
        assert JobSubmission.objects.count() == 1 and JobScript.objects.count() == 1


# Bounded input ---------------------------------------------------------------------------------------------------


class TestBoundedInput:
    def test_a_preset_name_of_megabytes_is_a_message(self, alice_browser, gpu):
        page = alice_browser.post(
            "/applications/gpu-training/presets", form_data(preset_name="p" * 4_000_000), follow=True
        ).content.decode()
        assert "at most 100 characters" in page and not Preset.objects.exists()

    def test_a_preset_name_with_nul_is_a_message_and_never_reaches_the_database(self, alice_browser, gpu):
        with no_nul_sent_to_the_database():
            # Now: services.save_preset looks the name up (mine.filter(name=name)) before full_clean checks it:
            # a DataError, a 500, on PostgreSQL.
            response = alice_browser.post("/applications/gpu-training/presets", form_data(preset_name="a\x00b"))
        assert response.status_code == 302 and not Preset.objects.exists()

    def test_a_preset_with_answers_too_large_to_keep_is_a_message(self, alice_browser, gpu):
        page = alice_browser.post(
            "/applications/gpu-training/presets", form_data(dataset="/" + "d" * 200_000, preset_name="big"), follow=True
        ).content.decode()
        assert "Preset:" in page and not Preset.objects.exists()

    def test_renaming_onto_another_preset_is_a_message_and_keeps_both(self, alice_browser, gpu):
        Preset.objects.create(owner_email=ALICE, application=gpu, name="one", answers={})
        two = Preset.objects.create(owner_email=ALICE, application=gpu, name="two", answers={})
        page = alice_browser.post(f"/presets/{two.pk}/rename", {"name": "one"}, follow=True).content.decode()
        assert "already" in page and sorted(Preset.objects.values_list("name", flat=True)) == ["one", "two"]

    def test_parameters_of_any_shape_load_into_the_form(self, alice_browser, cluster):
        """A job script rendered through the API for a workflow application keeps whatever JSON was sent."""
        make_example_application("legacy-preprocess")
        job_script = make_submission(ALICE).job_script
        job_script.render_parameters = {
            "data": {"chunks": {"a": [[[1]]]}, "compress": "maybe", "level": [1, 2], "input_dir": None}
        }
        job_script.save()
        response = alice_browser.get(f"/applications/legacy-preprocess/?from-job-script={job_script.pk}")
        assert response.status_code == 200 and f"job script #{job_script.pk}" in response.content.decode()

    def test_a_sign_in_with_nul_in_the_user_name_never_reaches_the_database(self, client, db):
        with no_nul_sent_to_the_database():
            response = client.post("/sign-in/", {"username": "alice\x00", "password": "x"})
        assert response.status_code == 200

    def test_a_preset_renamed_with_nul_is_a_message(self, alice_browser, gpu):
        preset = Preset.objects.create(owner_email=ALICE, application=gpu, name="p", answers={})
        with no_nul_sent_to_the_database():
            response = alice_browser.post(f"/presets/{preset.pk}/rename", {"name": "a\x00b"})
        assert response.status_code == 302 and Preset.objects.get().name == "p"

    def test_thousands_of_fields_are_a_400(self, alice_browser, cluster):
        make_example_application("parameter-sweep")
        data = as_posted({"learning_rates": ["0.1"] * 5000, "name": "x", "cluster": "cluster-a"})
        response = alice_browser.post("/applications/parameter-sweep/", data)
        assert response.status_code == 400 and JobScript.objects.count() == 0

    def test_a_multi_choice_answer_names_each_choice_once(self, alice_browser, cluster):
        make_example_application("parameter-sweep")
        data = as_posted({"learning_rates": ["0.1"] * 900, "dropout": "0.5", "name": "x", "cluster": "cluster-a"})
        response = alice_browser.post("/applications/parameter-sweep/", data)
        # Now: 302, a job script whose answer is 0.1 nine hundred times (the published JSON Schema says
        # uniqueItems, applications.questions.answer_problems does not check it).
        assert response.status_code == 422 and JobScript.objects.count() == 0

    def test_a_huge_text_answer_is_refused_with_a_message(self, alice_browser, gpu, cluster):
        response = alice_browser.post("/applications/gpu-training/", form_data(dataset="/" + "d" * 3_000_000))
        assert response.status_code == 422 and JobScript.objects.count() == 0

    def test_an_edited_entrypoint_the_form_refuses_says_why(self, alice_browser, gpu, cluster):
        response = alice_browser.post(
            "/applications/gpu-training/", form_data(entrypoint="#!/bin/bash\necho a\x00b\n", entrypoint_edited="true")
        )
        assert response.status_code == 422 and JobScript.objects.count() == 0
        page = response.content.decode()
        # Now: the entrypoint's error is on a hidden field the template never shows: a 422 with no message at all.
        assert "Null characters are not allowed" in page

    def test_an_empty_edited_entrypoint_is_refused_with_a_message(self, alice_browser, gpu, cluster):
        response = alice_browser.post("/applications/gpu-training/", form_data(entrypoint="", entrypoint_edited="true"))
        # Now: 302; the job script's entrypoint is stored empty and submitted to the cluster.
        assert response.status_code == 422
        assert JobScript.objects.count() == 0 and JobSubmission.objects.count() == 0

    def test_a_refused_run_leaves_no_bytes_in_storage(self, alice_browser, gpu, cluster, settings):
        settings.MAX_UPLOAD_BYTES = 1000
        storage = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
        before = {path for path in storage.rglob("*") if path.is_file()}
        for _ in range(3):
            response = alice_browser.post(
                "/applications/gpu-training/", form_data(entrypoint="#" * 2000, entrypoint_edited="true")
            )
            assert response.status_code == 422
        assert JobScript.objects.count() == 0
        left = {path for path in storage.rglob("*") if path.is_file()} - before
        # Now: each refused run leaves its rendered files on disk (create_run stores them, then the entrypoint is
        # refused and the rows roll back; jobbergate/files.py says a sweep would remove them, none exists).
        assert not left, sorted(str(path.relative_to(storage)) for path in left)

    def test_sbatch_options_of_megabytes_are_a_message(self, alice_browser, gpu, cluster):
        response = alice_browser.post(
            "/applications/gpu-training/", form_data(sbatch_params="--comment=" + "x" * 2_000_000)
        )
        assert response.status_code == 422 and JobScript.objects.count() == 0


# Redirects, CSRF, escaping ----------------------------------------------------------------------------------------


class TestRedirectsAndForgery:
    @pytest.mark.parametrize(
        "target",
        [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "\\\\evil.example",
            "https:evil.example",
            " //evil.example",
            "\x01//evil.example",
            "javascript:alert(1)",
            "http://testserver@evil.example/",
        ],
    )
    def test_next_never_leaves_the_site(self, alice_browser, gpu, target):
        preset = Preset.objects.create(owner_email=ALICE, application=gpu, name="p", answers={})
        for response in [
            alice_browser.post(f"/presets/{preset.pk}/rename", {"name": "q", "next": target}),
            alice_browser.post("/submissions/cancel", {"ids": [], "next": target}),
        ]:
            assert response.status_code == 302 and response["Location"] == "/", target

    def test_sign_in_next_never_leaves_the_site(self, client, db):
        get_user_model().objects.create_user("alice", ALICE, "a-long-password")
        page = client.get("/sign-in/?next=https://evil.example/").content.decode()
        assert "evil.example" not in page
        response = client.post(
            "/sign-in/", {"username": "alice", "password": "a-long-password", "next": "//evil.example/"}
        )
        assert response.status_code == 302 and response["Location"] == "/"

    def test_every_post_needs_the_csrf_token(self, db, gpu):
        row = make_submission(ALICE)
        preset = Preset.objects.create(owner_email=ALICE, application=gpu, name="p", answers={})
        user, _ = get_user_model().objects.get_or_create(username=ALICE, defaults={"email": ALICE})
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(user)
        for path, data in [
            ("/applications/gpu-training/", form_data(save_only="on")),
            ("/applications/gpu-training/preview", form_data()),
            ("/applications/gpu-training/presets", form_data(preset_name="x")),
            (f"/presets/{preset.pk}/rename", {"name": "y"}),
            (f"/presets/{preset.pk}/delete", {}),
            ("/submissions/cancel", {"ids": [row.pk]}),
            (f"/submissions/{row.pk}/rerun", {}),
            (f"/job-scripts/{row.job_script_id}/", {"name": "z", "cluster": "cluster-a"}),
            ("/sign-out/", {}),
            ("/applications/upload", {"identifier": "x"}),
        ]:
            assert strict.post(path, data).status_code == 403, path
        assert Preset.objects.get().name == "p" and JobSubmission.objects.count() == 1
        assert JobScript.objects.count() == 1

    def test_a_stranger_posts_nothing(self, client, gpu):
        row = make_submission(ALICE)
        for path in [
            "/applications/gpu-training/preview",
            "/applications/gpu-training/presets",
            "/submissions/cancel",
            f"/submissions/{row.pk}/cancel",
            f"/submissions/{row.pk}/rerun",
        ]:
            response = client.post(path, {"ids": [row.pk], **form_data(preset_name="x")})
            assert response.status_code == 302 and response["Location"].startswith("/sign-in/"), path
        assert JobSubmission.objects.get().status == JobSubmissionStatus.CREATED and not Preset.objects.exists()

    def test_names_and_answers_are_shown_escaped(self, alice_browser, gpu, cluster):
        evil = '"><script>alert(1)</script>'
        alice_browser.post("/applications/gpu-training/", form_data(name="x", dataset=evil, save_only="on"))
        Preset.objects.create(owner_email=ALICE, application=gpu, name=evil[:100], answers={"dataset": evil})
        for path in ["/applications/gpu-training/", f"/applications/gpu-training/?preset={Preset.objects.get().pk}"]:
            page = alice_browser.get(path).content.decode()
            assert "<script>alert(1)" not in page, path
        page = alice_browser.get("/submissions/?q=" + evil).content.decode()
        assert "<script>alert(1)" not in page


# Fair shares -----------------------------------------------------------------------------------------------------


class TestFairness:
    def test_a_user_whose_slots_are_taken_gets_a_message_not_a_render(self, alice_browser, gpu, cluster):
        with heavy_request(Principal(email=ALICE, permissions=frozenset()), what="test"):
            preview = alice_browser.post("/applications/gpu-training/preview", form_data())
            run = alice_browser.post("/applications/gpu-training/", form_data())
        assert preview.status_code == 200 and "already have" in preview.content.decode()
        assert run.status_code == 422 and "already have" in run.content.decode()
        assert JobScript.objects.count() == 0

    def test_reading_a_workflow_form_takes_one_of_the_users_slots(self, alice_browser, cluster):
        """A workflow application's questions are read from its jobbergate.py in a render worker
        (``render_pool().convert_workflow``), the pool every user's renders share."""
        make_example_application("legacy-preprocess")
        from applications import services as application_services

        application_services._CONVERTED.clear()  # read by an earlier test: this one watches the first reading
        real_pool = application_services.render_pool
        held_a_slot = []

        class Spy:
            def __getattr__(self, name):
                return getattr(real_pool(), name)

            def convert_workflow(self, source):
                try:
                    with heavy_request(Principal(email=ALICE, permissions=frozenset()), what="probe"):
                        held_a_slot.append(False)
                except Busy:
                    held_a_slot.append(True)
                return real_pool().convert_workflow(source)

        with mock.patch.object(application_services, "render_pool", lambda: Spy()):
            alice_browser.get("/applications/legacy-preprocess/")
            alice_browser.post("/applications/legacy-preprocess/preview", {})
            alice_browser.post("/applications/legacy-preprocess/presets", {"preset_name": "p"})
        # Now: [False, False, False]: every GET of the form, every preview keystroke (before its own slot is taken)
        # and every preset save runs the conversion in the shared worker with no slot, so one user can keep the
        # render workers busy for everybody.
        assert held_a_slot and all(held_a_slot), held_a_slot
