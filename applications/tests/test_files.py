"""Template and workflow file endpoints of applications, and every bad upload they must refuse."""

from __future__ import annotations

import json

import pytest

from applications.models import TemplateFile, WorkflowFile
from testkit.factories import make_template
from testkit.uploads import upload

URL = "/jobbergate/job-script-templates"


@pytest.fixture
def app(alice):
    return make_template(alice.email, identifier="app", files=False)


def put_template(persona, key, file_type, name, content, **query):
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return persona.client.put(
        f"{URL}/{key}/upload/template/{file_type}" + (f"?{params}" if params else ""),
        upload(name, content),
        format="multipart",
    )


@pytest.mark.django_db
class TestTemplateFiles:
    def test_upload_download_and_delete_a_template(self, alice, app):
        response = put_template(alice, "app", "ENTRYPOINT", "job.sh.j2", "#!/bin/bash\necho {{ x }}\n")
        assert response.status_code == 200
        assert response.json() == {
            **response.json(),
            "parent_id": app.pk,
            "filename": "job.sh.j2",
            "file_type": "ENTRYPOINT",
        }
        download = alice.client.get(f"{URL}/app/upload/template/job.sh.j2")
        assert download.status_code == 200
        assert download["Content-Type"].startswith("text/plain")
        assert download.content == b"#!/bin/bash\necho {{ x }}\n"
        assert alice.client.delete(f"{URL}/app/upload/template/job.sh.j2").status_code == 200
        assert alice.client.get(f"{URL}/app/upload/template/job.sh.j2").status_code == 404

    def test_uploading_again_replaces_the_content(self, alice, app):
        put_template(alice, "app", "SUPPORT", "a.txt.j2", "one")
        put_template(alice, "app", "SUPPORT", "a.txt.j2", "two")
        assert alice.client.get(f"{URL}/app/upload/template/a.txt.j2").content == b"two"
        assert TemplateFile.objects.filter(parent=app).count() == 1

    def test_filename_query_overrides_the_upload_name(self, alice, app):
        put_template(alice, "app", "SUPPORT", "local-name.j2", "x", filename="stored.j2")
        assert list(app.template_files.values_list("filename", flat=True)) == ["stored.j2"]

    def test_previous_filename_renames_without_new_content(self, alice, app):
        put_template(alice, "app", "SUPPORT", "old.j2", "keep me")
        response = alice.client.put(
            f"{URL}/app/upload/template/SUPPORT?filename=new.j2&previous_filename=old.j2", {}, format="multipart"
        )
        assert response.status_code == 200, response.content
        assert alice.client.get(f"{URL}/app/upload/template/new.j2").content == b"keep me"
        assert alice.client.get(f"{URL}/app/upload/template/old.j2").status_code == 404

    def test_the_file_type_is_case_insensitive_and_checked(self, alice, app):
        assert put_template(alice, "app", "support", "a.j2", "x").json()["file_type"] == "SUPPORT"
        response = put_template(alice, "app", "SIDEKICK", "b.j2", "x")
        assert response.status_code == 400
        assert "file_type" in response.json()["detail"]

    def test_another_user_may_read_but_not_change_templates(self, alice, bob, app):
        put_template(alice, "app", "ENTRYPOINT", "job.sh.j2", "x")
        assert bob.client.get(f"{URL}/app/upload/template/job.sh.j2").status_code == 200
        assert put_template(bob, "app", "ENTRYPOINT", "job.sh.j2", "evil").status_code == 403
        assert bob.client.delete(f"{URL}/app/upload/template/job.sh.j2").status_code == 403
        assert alice.client.get(f"{URL}/app/upload/template/job.sh.j2").content == b"x"


@pytest.mark.django_db
class TestBadUploads:
    @pytest.mark.parametrize(
        "filename",
        ["../escape.j2", "a/b.j2", "a\\b.j2", "..", "nul\x00.j2"],
    )
    def test_a_filename_with_a_separator_dots_or_nul_gets_400(self, alice, app, filename):
        response = put_template(alice, "app", "SUPPORT", "ok.j2", "x", filename=filename.replace("\x00", "%00"))
        assert response.status_code == 400, response.content
        assert not TemplateFile.objects.exists()

    def test_a_non_utf8_template_gets_400(self, alice, app):
        response = put_template(alice, "app", "ENTRYPOINT", "job.sh.j2", b"\xff\xfe\x00binary")
        assert response.status_code == 400
        assert "UTF-8" in response.json()["detail"]
        assert not TemplateFile.objects.exists()

    def test_a_template_that_does_not_parse_gets_422(self, alice, app):
        response = put_template(alice, "app", "ENTRYPOINT", "job.sh.j2", "{% if x %}never closed")
        assert response.status_code == 422
        assert "line" in response.json()["detail"]

    def test_an_upload_over_the_limit_gets_413(self, alice, app, settings):
        settings.MAX_UPLOAD_BYTES = 1000
        response = put_template(alice, "app", "ENTRYPOINT", "job.sh.j2", "x" * 2000)
        assert response.status_code == 413
        assert not TemplateFile.objects.exists()

    def test_a_body_far_over_the_limit_is_refused_before_reading(self, alice, app, settings):
        settings.MAX_UPLOAD_BYTES = 1000
        response = put_template(alice, "app", "ENTRYPOINT", "job.sh.j2", "x" * 200_000)
        assert response.status_code == 413

    def test_a_missing_upload_file_gets_400(self, alice, app):
        response = alice.client.put(f"{URL}/app/upload/template/ENTRYPOINT", {}, format="multipart")
        assert response.status_code == 400
        assert "upload_file" in response.json()["detail"]

    def test_renaming_a_missing_file_gets_422(self, alice, app):
        response = alice.client.put(
            f"{URL}/app/upload/template/SUPPORT?filename=n.j2&previous_filename=ghost.j2", {}, format="multipart"
        )
        assert response.status_code == 422

    def test_renaming_onto_an_existing_name_gets_409(self, alice, app):
        put_template(alice, "app", "SUPPORT", "a.j2", "a")
        put_template(alice, "app", "SUPPORT", "b.j2", "b")
        response = alice.client.put(
            f"{URL}/app/upload/template/SUPPORT?filename=b.j2&previous_filename=a.j2", {}, format="multipart"
        )
        assert response.status_code == 409


@pytest.mark.django_db
class TestWorkflowFile:
    def put_workflow(self, persona, content, runtime_config=None):
        data = upload("jobbergate.py", content) if content is not None else {}
        if runtime_config is not None:
            data["runtime_config"] = runtime_config
        return persona.client.put(f"{URL}/app/upload/workflow", data, format="multipart")

    def test_upload_download_and_delete_the_workflow(self, alice, app):
        response = self.put_workflow(alice, "print('hi')\n", json.dumps({"default_template": "job.sh.j2"}))
        assert response.status_code == 200, response.content
        assert response.json()["runtime_config"] == {"default_template": "job.sh.j2"}
        assert alice.client.get(f"{URL}/app/upload/workflow").content == b"print('hi')\n"
        detail = alice.client.get(f"{URL}/app").json()
        assert [w["filename"] for w in detail["workflow_files"]] == ["jobbergate.py"]
        assert alice.client.delete(f"{URL}/app/upload/workflow").status_code == 200
        assert alice.client.get(f"{URL}/app/upload/workflow").status_code == 404

    def test_a_new_workflow_needs_its_runtime_config(self, alice, app):
        response = self.put_workflow(alice, "x = 1\n")
        assert response.status_code == 422
        assert "runtime_config" in response.json()["detail"]
        assert not WorkflowFile.objects.exists()

    def test_the_runtime_config_alone_can_be_updated(self, alice, app):
        self.put_workflow(alice, "x = 1\n", "{}")
        response = self.put_workflow(alice, None, json.dumps({"job_script_name": "run"}))
        assert response.json()["runtime_config"] == {"job_script_name": "run"}
        assert alice.client.get(f"{URL}/app/upload/workflow").content == b"x = 1\n"

    def test_python_that_does_not_parse_gets_422_and_is_never_run(self, alice, app, tmp_path):
        marker = tmp_path / "ran"
        source = f"open({str(marker)!r}, 'w')\ndef broken(:\n"
        response = self.put_workflow(alice, source, "{}")
        assert response.status_code == 422
        assert "Python" in response.json()["detail"]
        assert not marker.exists()

    @pytest.mark.parametrize("runtime_config", ["not json", "[1, 2]"])
    def test_runtime_config_must_be_a_json_object(self, alice, app, runtime_config):
        response = self.put_workflow(alice, "x = 1\n", runtime_config)
        assert response.status_code == 400
        assert not WorkflowFile.objects.exists()


@pytest.mark.django_db
class TestNulCharacters:
    """PostgreSQL cannot store NUL; every way a client can send one is refused before the database."""

    def test_nul_in_template_vars_gets_422(self, alice):
        response = alice.client.post(URL, {"name": "x", "template_vars": {"a": "b\x00"}}, format="json")
        assert response.status_code == 422

    def test_nul_in_a_search_gets_400(self, alice):
        assert alice.client.get(URL, {"search": "a\x00b"}).status_code == 400

    def test_nul_in_an_identifier_path_gets_404(self, alice):
        assert alice.client.get(f"{URL}/a%00b").status_code == 404

    def test_nul_in_a_file_name_to_delete_gets_400(self, alice, app):
        assert alice.client.delete(f"{URL}/app/upload/template/a%00b").status_code == 400

    def test_nul_in_a_name_gets_422(self, alice):
        assert alice.client.post(URL, {"name": "a\x00b"}, format="json").status_code == 422

    def test_nul_in_runtime_config_gets_400(self, alice, app):
        data = {**upload("jobbergate.py", "x = 1\n"), "runtime_config": '{"a": "\\u0000"}'}
        assert alice.client.put(f"{URL}/app/upload/workflow", data, format="multipart").status_code == 400
