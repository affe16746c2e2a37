"""The portal's pages through Django's test client: what each shows, what a forged form gets, who sees what.

The whole path in a real browser, with the real provider, agent and Slurm, is tests/test_portal_browser.py.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from applications import services as application_services
from applications.models import JobScriptTemplate
from jobscripts.models import JobScript
from portal.forms import RunForm, answer_input
from portal.models import PRESETS_PER_APPLICATION, Preset
from portal.tests.conftest import browser
from submissions.choices import JobSubmissionStatus
from submissions.models import JobSubmission
from testkit.factories import EXAMPLES, make_example_application, make_submission

RUN_FIELDS = set(RunForm.base_fields) | {"preset_name"}  # the run's own fields, and the presets' form


def as_posted(values: dict) -> dict:
    """The form as a browser posts it: each question's answer under its input's name (``answer-<question>``), the
    run's own fields under theirs."""
    return {key if key in RUN_FIELDS else answer_input(key): value for key, value in values.items()}


def form_data(**overrides) -> dict:
    data = {
        "gpus": "2",
        "epochs": "10",
        "dataset": "/shared/data",
        "use_scratch": ["false"],
        "name": "train",
        "cluster": "cluster-a",
        "execution_directory": "",
        "sbatch_params": "",
    }
    data.update(overrides)
    return as_posted(data)


class TestSignIn:
    def test_every_page_asks_a_stranger_to_sign_in(self, client, gpu):
        for path in ["/", "/applications/gpu-training/", "/submissions/", "/job-scripts/", "/submissions/1/"]:
            response = client.get(path)
            assert response.status_code == 302 and response["Location"].startswith("/sign-in/?next="), path

    def test_an_ordinary_user_signs_in_with_a_password(self, client, db):
        get_user_model().objects.create_user("alice", "alice@example.com", "a-long-password")
        response = client.post("/sign-in/", {"username": "alice", "password": "a-long-password"})
        assert response.status_code == 302 and response["Location"] == "/"
        assert client.get("/").status_code == 200

    def test_a_wrong_password_is_one_clear_line(self, client, db):
        get_user_model().objects.create_user("alice", "alice@example.com", "a-long-password")
        response = client.post("/sign-in/", {"username": "alice", "password": "nope"})
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()

    def test_sign_out_is_a_post(self, alice_browser):
        assert alice_browser.get("/sign-out/").status_code == 405
        assert alice_browser.post("/sign-out/").status_code == 302
        assert alice_browser.get("/").status_code == 302


class TestCatalogue:
    def test_it_lists_applications_newest_first_with_their_question_count(self, alice_browser, gpu):
        hello = make_example_application("hello-serial")
        page = alice_browser.get("/").content.decode()
        assert page.index(hello.name) < page.index(gpu.name)
        assert "5 questions" in page and "4 questions" in page

    def test_search_and_archived(self, alice_browser, gpu):
        hello = make_example_application("hello-serial")
        page = alice_browser.get("/?q=partition").content.decode()
        assert gpu.name not in page
        hello.is_archived = True
        hello.save()
        assert hello.name not in alice_browser.get("/").content.decode()

    def test_an_ordinary_user_sees_no_upload_form_and_cannot_post_one(self, alice_browser, db):
        assert "Upload an application" not in alice_browser.get("/").content.decode()
        assert alice_browser.post("/applications/upload", {"identifier": "x"}).status_code == 403


class TestForm:
    def test_the_form_is_built_from_the_typed_questions(self, alice_browser, gpu, cluster):
        page = alice_browser.get("/applications/gpu-training/").content.decode()
        assert 'name="answer-gpus" type="number"' in page and 'min="1"' in page and 'max="8"' in page
        assert 'data-when="{&quot;use_scratch&quot;: true}"' in page
        assert "GPUs per job?" in page and "cluster-a" in page and "healthy" in page

    def test_a_valid_form_creates_the_job_script_and_its_submission(self, alice_browser, gpu, cluster):
        response = alice_browser.post("/applications/gpu-training/", form_data())
        assert response.status_code == 302
        submission = JobSubmission.objects.get()
        assert response["Location"] == f"/submissions/{submission.pk}/"
        assert submission.owner_email == "alice@example.com" and submission.client_id == "cluster-a"
        job_script = submission.job_script
        assert job_script.render_parameters["data"]["gpus"] == 2
        assert job_script.template_content_hash
        assert "--gres=gpu:2" in job_script.files.get(file_type="ENTRYPOINT").read_text()

    def test_save_only_stores_the_job_script_and_submits_nothing(self, alice_browser, gpu):
        response = alice_browser.post("/applications/gpu-training/", form_data(save_only="on", cluster=""))
        assert response.status_code == 302 and response["Location"].startswith("/job-scripts/")
        assert JobSubmission.objects.count() == 0 and JobScript.objects.count() == 1

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"gpus": "9"}, "gpus", "must be at most 8"),
            ({"gpus": "two"}, "gpus", "must be a whole number"),
            ({"gpus": "١"}, "gpus", "must be a whole number"),
            ({"epochs": ""}, None, None),  # a default fills it
            ({"cluster": "nowhere"}, "cluster", "Select a valid choice"),
            ({"cluster": ""}, "cluster", "Choose the cluster"),
            ({"sbatch_params": "--uid=0"}, "sbatch_params", "may not be given"),
            ({"name": ""}, "name", "This field is required"),
            ({"execution_directory": "x\x00y"}, "execution_directory", "Null characters are not allowed"),
        ],
    )
    def test_a_forged_or_wrong_form_comes_back_with_messages_and_stores_nothing(
        self, alice_browser, gpu, cluster, overrides, field, message
    ):
        response = alice_browser.post("/applications/gpu-training/", form_data(**overrides))
        if field is None:
            assert response.status_code == 302
            return
        assert response.status_code == 422
        assert message in response.content.decode()
        assert JobScript.objects.count() == 0 and JobSubmission.objects.count() == 0

    def test_a_question_may_share_its_name_with_the_forms_own_fields(self, db, cluster):
        """Questions named name, cluster and csrfmiddlewaretoken: each answer reaches the render and the run keeps
        its own fields. (The answers were read from the form's own fields, the last value winning, so the job
        script's name was rendered as the answer; a question named csrfmiddlewaretoken failed every post of its
        form with a 403.)"""
        questions = "".join(
            f"  - {{name: {name}, type: text, default: d-{name}}}\n"
            for name in ("name", "cluster", "csrfmiddlewaretoken")
        )
        folder = {
            "jobbergate.yaml": f"jobbergate_config:\n  default_template: run.sh.j2\nquestions:\n{questions}".encode(),
            "templates/run.sh.j2": b"#!/bin/bash\necho {{ name }} {{ cluster }} {{ csrfmiddlewaretoken }}\n",
        }
        email = "alice@example.com"
        bundle = application_services.load_bundle(folder)
        application_services.upsert_application(identifier="clash", bundle=bundle, owner_email=email, name="clash")
        strict = Client(enforce_csrf_checks=True)  # as a browser: the CSRF token is checked
        strict.force_login(get_user_model().objects.get_or_create(username=email, defaults={"email": email})[0])
        page = strict.get("/applications/clash/").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        assert 'name="answer-csrfmiddlewaretoken"' in page and 'name="answer-name"' in page
        answers = {"name": "sampleB", "cluster": "q-cluster", "csrfmiddlewaretoken": "not-a-token"}
        answers = {answer_input(question): answer for question, answer in answers.items()}
        data = {**answers, "csrfmiddlewaretoken": token, "name": "my run", "cluster": "", "save_only": "on"}
        preview = strict.post("/applications/clash/preview", data)
        assert preview.status_code == 200, preview.content
        assert "echo sampleB q-cluster not-a-token" in preview.content.decode(), preview.content.decode()[:600]
        assert strict.post("/applications/clash/", data).status_code == 302
        job_script = JobScript.objects.get()
        assert job_script.name == "my run"
        assert job_script.files.get().read_text() == "#!/bin/bash\necho sampleB q-cluster not-a-token\n"

    def test_a_changed_constant_is_refused(self, alice_browser, cluster):
        make_example_application("parameter-sweep")
        data = as_posted(
            {"learning_rates": ["0.1"], "dropout": "0.5", "seed": "7", "name": "x", "cluster": "cluster-a"}
        )
        response = alice_browser.post("/applications/parameter-sweep/", data)
        assert response.status_code == 422
        assert "is a constant and cannot be changed" in response.content.decode()
        assert JobScript.objects.count() == 0

    def test_unknown_fields_are_ignored_not_rendered(self, alice_browser, gpu, cluster):
        response = alice_browser.post("/applications/gpu-training/", form_data(evil="{{ 7*7 }}"))
        assert response.status_code == 302
        assert "evil" not in JobScript.objects.get().render_parameters["data"]

    def test_a_hidden_question_is_dropped_and_a_shown_one_is_kept(self, alice_browser, gpu, cluster):
        alice_browser.post("/applications/gpu-training/", form_data(scratch_dir="/elsewhere"))
        assert "scratch_dir" not in JobScript.objects.get().render_parameters["data"]
        alice_browser.post(
            "/applications/gpu-training/", form_data(use_scratch=["false", "true"], scratch_dir="/fast", name="b")
        )
        assert JobScript.objects.get(name="b").render_parameters["data"]["scratch_dir"] == "/fast"

    def test_an_edited_entrypoint_is_what_is_stored(self, alice_browser, gpu, cluster):
        script = "#!/bin/bash\necho edited by hand\n"
        alice_browser.post("/applications/gpu-training/", form_data(entrypoint=script, entrypoint_edited="true"))
        assert JobScript.objects.get().files.get(file_type="ENTRYPOINT").read_text() == script

    def test_the_form_opens_with_the_users_last_answers(self, alice_browser, gpu, cluster):
        alice_browser.post("/applications/gpu-training/", form_data(gpus="3"))
        page = alice_browser.get("/applications/gpu-training/").content.decode()
        assert re.search(r'name="answer-gpus" type="number" value="3"', page)
        assert "your last run" in page

    def test_another_users_submission_cannot_be_loaded(self, alice_browser, gpu):
        theirs = make_submission("bob@example.com")
        assert alice_browser.get(f"/applications/gpu-training/?from-submission={theirs.pk}").status_code == 404


class TestPreview:
    def test_it_renders_the_files_and_stores_nothing(self, alice_browser, gpu):
        response = alice_browser.post("/applications/gpu-training/preview", form_data(gpus="4"))
        page = response.content.decode()
        assert response.status_code == 200 and "--gres=gpu:4" in page and 'id="entrypoint"' in page
        assert JobScript.objects.count() == 0

    def test_field_problems_go_next_to_their_fields(self, alice_browser, gpu):
        page = alice_browser.post("/applications/gpu-training/preview", form_data(gpus="99")).content.decode()
        assert '<ul class="errors" id="errors-answer-gpus" hx-swap-oob="true"' in page
        assert "must be at most 8" in page
        assert '<ul class="errors" id="errors-answer-epochs" hx-swap-oob="true" aria-live="polite"></ul>' in page

    def test_template_output_is_escaped(self, alice_browser, gpu):
        page = alice_browser.post(
            "/applications/gpu-training/preview", form_data(dataset="<script>alert(1)</script>")
        ).content.decode()
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_the_sandbox_limits_show_their_message(self, alice_browser, gpu, settings):
        settings.RENDER_MAX_OUTPUT_BYTES = 10
        page = alice_browser.post("/applications/gpu-training/preview", form_data()).content.decode()
        assert 'class="error"' in page and "bytes" in page


class TestPresets:
    def test_save_use_rename_delete(self, alice_browser, gpu):
        response = alice_browser.post("/applications/gpu-training/presets", form_data(gpus="5", preset_name="big"))
        preset = Preset.objects.get()
        assert response["Location"] == f"/applications/gpu-training/?preset={preset.pk}"
        assert preset.answers["gpus"] == 5 and preset.owner_email == "alice@example.com"
        page = alice_browser.get(f"/applications/gpu-training/?preset={preset.pk}").content.decode()
        assert 'value="5"' in page and "preset “big”" in page
        alice_browser.post(f"/presets/{preset.pk}/rename", {"name": "huge", "next": "/applications/gpu-training/"})
        assert Preset.objects.get().name == "huge"
        alice_browser.post(f"/presets/{preset.pk}/delete", {"next": "https://evil.example/"})
        assert not Preset.objects.exists()

    def test_a_preset_with_wrong_answers_is_not_saved(self, alice_browser, gpu):
        alice_browser.post("/applications/gpu-training/presets", form_data(gpus="0", preset_name="bad"))
        assert not Preset.objects.exists()

    def test_another_users_preset_is_invisible_and_untouchable(self, alice_browser, gpu):
        theirs = Preset.objects.create(owner_email="bob@example.com", application=gpu, name="bobs", answers={"gpus": 7})
        page = alice_browser.get(f"/applications/gpu-training/?preset={theirs.pk}").content.decode()
        assert "bobs" not in page
        alice_browser.post(f"/presets/{theirs.pk}/delete")
        alice_browser.post(f"/presets/{theirs.pk}/rename", {"name": "mine"})
        assert Preset.objects.get(pk=theirs.pk).name == "bobs"

    def test_one_user_keeps_a_bounded_number(self, alice_browser, gpu):
        Preset.objects.bulk_create(
            Preset(owner_email="alice@example.com", application=gpu, name=f"p{index}")
            for index in range(PRESETS_PER_APPLICATION)
        )
        page = alice_browser.post(
            "/applications/gpu-training/presets", form_data(preset_name="one more"), follow=True
        ).content.decode()
        assert "delete one" in page
        assert Preset.objects.count() == PRESETS_PER_APPLICATION


class TestHistory:
    def test_it_lists_the_users_own_with_facets_and_a_fixed_number_of_queries(self, alice_browser, db):
        for index in range(60):
            make_submission("alice@example.com", name=f"run {index}", status=JobSubmissionStatus.DONE)
        make_submission("bob@example.com", name="bobs run")
        with CaptureQueriesContext(connection) as queries:
            page = alice_browser.get("/submissions/").content.decode()
        assert len(queries) <= 6, [query["sql"] for query in queries.captured_queries]
        assert "bobs run" not in page and "Page 1 of 2" in page
        assert "run 59" in page
        assert "run 0" not in alice_browser.get("/submissions/?status=running").content.decode()

    def test_bulk_cancel_cancels_only_what_may_be_cancelled(self, alice_browser, db):
        waiting = make_submission("alice@example.com")
        done = make_submission("alice@example.com", status=JobSubmissionStatus.DONE)
        theirs = make_submission("bob@example.com")
        alice_browser.post("/submissions/cancel", {"ids": [waiting.pk, done.pk, theirs.pk, "x"]})
        statuses = dict(JobSubmission.objects.values_list("pk", "status"))
        assert statuses[waiting.pk] == "CANCELLED" and statuses[done.pk] == "DONE" and statuses[theirs.pk] == "CREATED"


class TestDetail:
    def test_another_users_submission_or_job_script_is_a_404(self, alice_browser, db):
        theirs = make_submission("bob@example.com")
        for path in [
            f"/submissions/{theirs.pk}/",
            f"/submissions/{theirs.pk}/status",
            f"/job-scripts/{theirs.job_script_id}/",
            f"/job-scripts/{theirs.job_script_id}/files/job.sh",
        ]:
            assert alice_browser.get(path).status_code == 404, path
        for path in [f"/submissions/{theirs.pk}/cancel", f"/submissions/{theirs.pk}/rerun"]:
            assert alice_browser.post(path).status_code == 404, path
        assert JobSubmission.objects.get(pk=theirs.pk).status == "CREATED"
        assert alice_browser.get("/submissions/99999999999999999999/").status_code == 404

    def test_the_status_panel_polls_until_the_submission_is_final(self, alice_browser, db):
        row = make_submission("alice@example.com", status=JobSubmissionStatus.SUBMITTED, slurm_job_id=12)
        assert 'data-poll="' in alice_browser.get(f"/submissions/{row.pk}/status").content.decode()
        row.status = JobSubmissionStatus.DONE
        row.slurm_job_info = '{"exit_code": 0, "state": "COMPLETED"}'
        row.save()
        panel = alice_browser.get(f"/submissions/{row.pk}/status").content.decode()
        assert 'data-final="true"' in panel and "data-poll" not in panel and 'id="exit-code">0' in panel

    def test_rerun_and_cancel(self, alice_browser, db):
        row = make_submission("alice@example.com")
        response = alice_browser.post(f"/submissions/{row.pk}/rerun")
        clone = JobSubmission.objects.exclude(pk=row.pk).get()
        assert response["Location"] == f"/submissions/{clone.pk}/" and clone.cloned_from_id == row.pk
        alice_browser.post(f"/submissions/{clone.pk}/cancel")
        assert JobSubmission.objects.get(pk=clone.pk).status == "CANCELLED"
        page = alice_browser.post(f"/submissions/{clone.pk}/cancel", follow=True).content.decode()
        assert "only CREATED or SUBMITTED ones can be cancelled" in page

    def test_a_job_script_is_submitted_from_its_page(self, alice_browser, cluster):
        job_script = make_submission("alice@example.com").job_script
        response = alice_browser.post(f"/job-scripts/{job_script.pk}/", {"name": "again", "cluster": "cluster-a"})
        assert response.status_code == 302
        assert JobSubmission.objects.filter(name="again", job_script=job_script).exists()
        download = alice_browser.get(f"/job-scripts/{job_script.pk}/files/job.sh")
        assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")

    def test_a_session_without_csrf_token_changes_nothing(self, db):
        row = make_submission("alice@example.com")
        user = get_user_model().objects.create_user("alice@example.com", "alice@example.com")
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(user)
        assert strict.post(f"/submissions/{row.pk}/cancel").status_code == 403
        assert JobSubmission.objects.get(pk=row.pk).status == "CREATED"


class TestWorkflowApplications:
    def test_the_form_offers_the_questions_read_from_jobbergate_py_and_says_so(self, alice_browser, cluster):
        make_example_application("legacy-preprocess")
        page = alice_browser.get("/applications/legacy-preprocess/").content.decode()
        assert "read from the application&#x27;s jobbergate.py without running it" in page
        assert 'name="answer-chunks" type="number"' in page and 'data-when="{&quot;compress&quot;: true}"' in page
        response = alice_browser.post(
            "/applications/legacy-preprocess/",
            as_posted(
                {
                    "input_dir": "/data",
                    "chunks": "8",
                    "compress": ["false", "true"],
                    "level": "9",
                    "tool_version": "2.3",
                    "name": "pre",
                    "cluster": "cluster-a",
                }
            ),
        )
        assert response.status_code == 302
        assert JobScript.objects.get().render_parameters["data"]["level"] == 9

    def test_what_cannot_be_read_falls_back_to_the_variables(self, alice_browser):
        template = make_example_application("legacy-preprocess")
        workflow = template.workflow_files.get()
        workflow.replace_content(b"this is not python(")
        workflow.save()
        page = alice_browser.get("/applications/legacy-preprocess/").content.decode()
        assert "The CLI runs this application&#x27;s full workflow" in page
        assert 'name="answer-chunks" type="number" value="4"' in page


class TestMaintainerUpload:
    @pytest.fixture
    def dave_browser(self, dave):
        return browser(dave.email)

    def archive(self, name: str) -> bytes:
        from applications.bundle import read_folder, write_archive

        return write_archive(read_folder(EXAMPLES / name, application_services.bundle_limits()), "tar.gz")

    def test_a_maintainer_uploads_and_replaces_an_application(self, dave_browser):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("app.tar.gz", self.archive("hello-serial"))
        response = dave_browser.post("/applications/upload", {"identifier": "my-hello", "archive": upload})
        assert response.status_code == 302 and response["Location"] == "/applications/my-hello/"
        page = dave_browser.get("/", follow=True).content.decode()
        assert "my-hello" in page and "Upload an application" in page

    def test_a_broken_archive_is_a_message_and_stores_nothing(self, dave_browser):
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("app.tar.gz", b"not an archive")
        page = dave_browser.post(
            "/applications/upload", {"identifier": "broken", "archive": upload}, follow=True
        ).content.decode()
        assert "not a .tar.gz, .tgz, .tar or .zip archive" in page
        assert not JobScriptTemplate.objects.filter(identifier="broken").exists()


class TestOutput:
    def test_the_panel_reads_the_output_by_offset_as_escaped_text_and_polls_on(self, alice_browser, db):
        from submissions import output

        row = make_submission("alice@example.com", status=JobSubmissionStatus.SUBMITTED, slurm_job_id=3)
        output.append(submission=row, stream="stdout", offset=0, content=b"<script>x</script>\nsecond\n")
        page = alice_browser.get(f"/submissions/{row.pk}/").content.decode()
        assert f'hx-get="/submissions/{row.pk}/output/stdout?offset=0"' in page
        response = alice_browser.get(f"/submissions/{row.pk}/output/stdout?offset=0")
        text = response.content.decode()
        assert text.startswith('&lt;script&gt;x&lt;/script&gt;\nsecond\n<span class="output-poll"')
        assert f'hx-get="/submissions/{row.pk}/output/stdout?offset=26"' in text and "<script>" not in text
        assert response["X-Jobbergate-Next-Offset"] == "26" and response["X-Jobbergate-Complete"] == "false"
        assert row.outputs.get(stream="stdout").last_read is not None  # watched: the agent ships it every cycle
        download = alice_browser.get(f"/submissions/{row.pk}/output/stdout/download")
        assert b"".join(download.streaming_content) == b"<script>x</script>\nsecond\n"
        assert alice_browser.get(f"/submissions/{row.pk}/output/stdin").status_code == 400
        # Once complete, the panel stops asking.
        output.append(submission=row, stream="stdout", offset=26, content=b"", complete=True)
        end = alice_browser.get(f"/submissions/{row.pk}/output/stdout?offset=26").content.decode()
        assert end == '<span class="output-end" data-complete="true"></span>'

    def test_a_character_cut_by_the_end_of_what_came_so_far_is_shown_whole_later(self, alice_browser, db):
        from submissions import output

        row = make_submission("alice@example.com", status=JobSubmissionStatus.SUBMITTED, slurm_job_id=3)
        euro = "€".encode()  # three bytes
        output.append(submission=row, stream="stdout", offset=0, content=b"price: " + euro[:2])
        first = alice_browser.get(f"/submissions/{row.pk}/output/stdout?offset=0")
        assert first.content.decode().startswith("price: <span") and first["X-Jobbergate-Next-Offset"] == "7"
        output.append(submission=row, stream="stdout", offset=9, content=euro[2:] + b"\n")
        second = alice_browser.get(f"/submissions/{row.pk}/output/stdout?offset=7")
        assert second.content.decode().startswith("€\n<span") and second["X-Jobbergate-Next-Offset"] == "11"
        # Bytes that are not UTF-8 at all are not held back: they show as replacement characters.
        output.append(submission=row, stream="stdout", offset=11, content=b"\xff\xfe")
        third = alice_browser.get(f"/submissions/{row.pk}/output/stdout?offset=11")
        assert third.content.decode().startswith("\ufffd\ufffd<span") and third["X-Jobbergate-Next-Offset"] == "13"

    def test_an_ended_jobs_panel_stops_asking_once_no_more_output_can_come(self, alice_browser, db):
        """A stream no agent marks complete (the upstream agent ships none; a job cancelled before it ran has none)
        was asked for every 3 s for as long as the page stayed open."""
        from datetime import timedelta

        from django.utils import timezone

        def panel(row) -> str:
            return alice_browser.get(f"/submissions/{row.pk}/output/stdout?offset=0").content.decode()

        done = make_submission("alice@example.com", status=JobSubmissionStatus.DONE, slurm_job_id=3)
        assert 'class="output-poll"' in panel(done)  # just ended: the agent may still ship the last lines
        long_ago = timezone.now() - timedelta(seconds=121)
        JobSubmission.objects.filter(pk=done.pk).update(updated_at=long_ago)
        settled = panel(done)
        assert "output-poll" not in settled and "no more output came" in settled
        # A cancelled row whose job still runs (the agent cancels it) is still asked for, however old.
        running = make_submission("alice@example.com", status=JobSubmissionStatus.CANCELLED, slurm_job_id=4)
        JobSubmission.objects.filter(pk=running.pk).update(updated_at=long_ago, slurm_job_state="RUNNING")
        assert 'class="output-poll"' in panel(running)

    def test_the_download_says_where_bytes_were_dropped(self, alice_browser, db, settings):
        from submissions import output

        settings.OUTPUT_MAX_BYTES = 40
        settings.OUTPUT_CHUNK_MAX_BYTES = 10
        row = make_submission("alice@example.com", status=JobSubmissionStatus.SUBMITTED, slurm_job_id=3)
        for index in range(10):  # 100 bytes: the first 20 and the last 20 stay
            output.append(submission=row, stream="stdout", offset=index * 10, content=str(index).encode() * 10)
        download = alice_browser.get(f"/submissions/{row.pk}/output/stdout/download")
        expected = b"0" * 10 + b"1" * 10 + b"\n" + output.dropped_note(60).encode() + b"8" * 10 + b"9" * 10
        assert b"".join(download.streaming_content) == expected

    def test_another_users_output_is_a_404(self, alice_browser, db):
        theirs = make_submission("bob@example.com")
        assert alice_browser.get(f"/submissions/{theirs.pk}/output/stdout").status_code == 404
        assert alice_browser.get(f"/submissions/{theirs.pk}/output/stdout/download").status_code == 404
