"""API of job scripts: the generic resource contract, plus lineage and the parent template."""

from __future__ import annotations

import pytest

from jobscripts.models import JobScript
from submissions.choices import JobSubmissionStatus
from testkit.api import ResourceAPITestCase
from testkit.factories import make_job_script, make_submission, make_template

URL = "/jobbergate/job-scripts"


class TestJobScriptAPI(ResourceAPITestCase):
    url = URL
    model = JobScript
    private = True

    def make(self, owner_email):
        return make_job_script(owner_email)

    def create_payload(self, persona):
        return {"name": "stand-alone", "description": "written by hand"}


@pytest.mark.django_db
class TestJobScriptDetails:
    def test_list_items_embed_their_parent_template(self, alice):
        template = make_template(alice.email)
        make_job_script(alice.email, template=template)
        item = alice.client.get(URL).json()["items"][0]
        assert item["parent_template_id"] == template.pk
        assert item["template"]["identifier"] == template.identifier

    def test_the_list_filters_by_parent_template(self, alice):
        template = make_template(alice.email)
        wanted = make_job_script(alice.email, template=template)
        make_job_script(alice.email)
        body = alice.client.get(URL, {"from_job_script_template_id": template.pk}).json()
        assert [item["id"] for item in body["items"]] == [wanted.pk]

    def test_a_bad_filter_value_gets_400(self, alice):
        assert alice.client.get(URL, {"from_job_script_template_id": "abc"}).status_code == 400

    def test_the_detail_lists_the_files(self, alice):
        job_script = make_job_script(alice.email)
        files = alice.client.get(f"{URL}/{job_script.pk}").json()["files"]
        assert {(f["filename"], f["file_type"]) for f in files} == {("job.sh", "ENTRYPOINT"), ("input.txt", "SUPPORT")}
        assert all(f["parent_id"] == job_script.pk for f in files)

    def test_clone_copies_files_into_independent_storage(self, alice):
        job_script = make_job_script(alice.email)
        clone_id = alice.client.post(f"{URL}/clone/{job_script.pk}", {}, format="json").json()["id"]
        alice.client.delete(f"{URL}/{job_script.pk}/upload/job.sh")
        assert alice.client.get(f"{URL}/{clone_id}/upload/job.sh").content.startswith(b"#!/bin/bash")

    def test_deleting_a_job_script_rejects_its_waiting_submissions(self, alice):
        job_script = make_job_script(alice.email)
        waiting = make_submission(alice.email, job_script=job_script)
        running = make_submission(alice.email, job_script=job_script, status=JobSubmissionStatus.SUBMITTED)
        assert alice.client.delete(f"{URL}/{job_script.pk}").status_code == 204
        waiting.refresh_from_db()
        running.refresh_from_db()
        assert waiting.status == JobSubmissionStatus.REJECTED
        assert "deleted" in waiting.report_message
        assert waiting.progress.last().status == JobSubmissionStatus.REJECTED
        assert running.status == JobSubmissionStatus.SUBMITTED
        assert waiting.job_script_id is None
