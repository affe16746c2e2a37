"""File endpoints of job scripts, and the one-ENTRYPOINT rule."""

from __future__ import annotations

import pytest

from jobscripts.models import JobScriptFile
from testkit.factories import make_job_script
from testkit.uploads import upload

URL = "/jobbergate/job-scripts"


@pytest.mark.django_db
class TestJobScriptFiles:
    def test_upload_download_rename_and_delete(self, alice):
        job_script = make_job_script(alice.email, files=False)
        base = f"{URL}/{job_script.pk}/upload"
        response = alice.client.put(f"{base}/ENTRYPOINT", upload("run.sh", "#!/bin/sh\necho hi\n"), format="multipart")
        assert response.status_code == 200
        assert response.json()["file_type"] == "ENTRYPOINT"
        assert alice.client.get(f"{base}/run.sh").content == b"#!/bin/sh\necho hi\n"
        renamed = alice.client.put(
            f"{base}/ENTRYPOINT?filename=main.sh&previous_filename=run.sh", {}, format="multipart"
        )
        assert renamed.json()["filename"] == "main.sh"
        assert alice.client.delete(f"{base}/main.sh").status_code == 200
        assert not JobScriptFile.objects.exists()

    def test_a_second_entrypoint_gets_409_and_changes_nothing(self, alice):
        job_script = make_job_script(alice.email)
        response = alice.client.put(
            f"{URL}/{job_script.pk}/upload/ENTRYPOINT", upload("other.sh", "echo"), format="multipart"
        )
        assert response.status_code == 409
        assert "ENTRYPOINT" in response.json()["detail"]
        assert job_script.files.count() == 2

    def test_turning_a_support_file_into_a_second_entrypoint_gets_409(self, alice):
        job_script = make_job_script(alice.email)
        response = alice.client.put(
            f"{URL}/{job_script.pk}/upload/ENTRYPOINT?filename=input.txt&previous_filename=input.txt",
            upload("input.txt", "1"),
            format="multipart",
        )
        assert response.status_code == 409

    def test_another_user_cannot_read_or_write_files(self, alice, bob):
        job_script = make_job_script(alice.email)
        assert bob.client.get(f"{URL}/{job_script.pk}/upload/job.sh").status_code == 404
        response = bob.client.put(f"{URL}/{job_script.pk}/upload/SUPPORT", upload("x", "y"), format="multipart")
        assert response.status_code == 404

    def test_a_non_utf8_file_gets_400(self, alice):
        job_script = make_job_script(alice.email, files=False)
        response = alice.client.put(
            f"{URL}/{job_script.pk}/upload/SUPPORT", upload("d.bin", b"\x80\x81"), format="multipart"
        )
        assert response.status_code == 400

    def test_a_missing_file_gets_404(self, alice):
        job_script = make_job_script(alice.email)
        assert alice.client.get(f"{URL}/{job_script.pk}/upload/ghost.sh").status_code == 404
        assert alice.client.delete(f"{URL}/{job_script.pk}/upload/ghost.sh").status_code == 404

    def test_file_changes_touch_the_job_script(self, alice):
        job_script = make_job_script(alice.email)
        before = job_script.updated_at
        alice.client.put(f"{URL}/{job_script.pk}/upload/SUPPORT", upload("more.txt", "1"), format="multipart")
        job_script.refresh_from_db()
        assert job_script.updated_at > before
