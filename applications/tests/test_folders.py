"""Whole application folders: upload as an archive or many files, download back, and every bad archive refused."""

from __future__ import annotations

import io
import tarfile
import zipfile
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from applications.bundle import read_archive
from applications.models import JobScriptTemplate

URL = "/jobbergate/job-script-templates"

CONFIG = b"""\
jobbergate_config:
  default_template: templates/job.sh.j2
  supporting_files: [templates/inputs/params.txt.j2]
  job_script_name: demo
application_config:
  partition: debug
  nodes: 2
"""
FOLDER = {
    "jobbergate.yaml": CONFIG,
    "jobbergate.py": b"from jobbergate_cli.subapps.applications.application_base import JobbergateApplicationBase\n",
    "templates/job.sh.j2": b"#!/bin/bash\n#SBATCH -p {{ partition }}\nsrun -N {{ nodes }} hostname\n",
    "templates/inputs/params.txt.j2": b"nodes={{ data.nodes }}\n",
}


def tar_gz(files: dict[str, bytes], root: str = "demo-app", tweak=None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"{root}/{name}" if root else name)
            info.size = len(content)
            if tweak:
                tweak(info)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def put_archive(persona, key: str, data: bytes, archive_name="app.tar.gz", **query):
    params = urlencode(query)
    return persona.client.put(
        f"{URL}/{key}/application" + (f"?{params}" if params else ""),
        {"archive": SimpleUploadedFile(archive_name, data)},
        format="multipart",
    )


@pytest.mark.django_db
class TestFolderUpload:
    def test_a_tar_gz_creates_the_application_with_its_sub_folders(self, alice):
        response = put_archive(alice, "demo", tar_gz(FOLDER), name="Demo application")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["identifier"] == "demo" and body["name"] == "Demo application"
        assert body["template_vars"] == {"partition": "debug", "nodes": 2}
        assert {f["filename"]: f["file_type"] for f in body["template_files"]} == {
            "job.sh.j2": "ENTRYPOINT",
            "inputs/params.txt.j2": "SUPPORT",
        }
        assert body["workflow_files"][0]["runtime_config"]["job_script_name"] == "demo"
        nested = alice.client.get(f"{URL}/demo/upload/template/inputs/params.txt.j2")
        assert nested.status_code == 200 and nested.content == FOLDER["templates/inputs/params.txt.j2"]

    def test_a_zip_works_the_same(self, alice):
        assert put_archive(alice, "zipped", zip_bytes(FOLDER), archive_name="x.zip").status_code == 201

    def test_many_files_named_by_their_paths_work_too(self, alice):
        parts = {name: SimpleUploadedFile(name.rsplit("/", 1)[-1], content) for name, content in FOLDER.items()}
        response = alice.client.put(f"{URL}/parts/application", parts, format="multipart")
        assert response.status_code == 201, response.content
        assert len(response.json()["template_files"]) == 2

    def test_uploading_again_replaces_the_files_and_answers_200(self, alice):
        put_archive(alice, "demo", tar_gz(FOLDER))
        changed = {**FOLDER, "templates/job.sh.j2": b"#!/bin/bash\necho v2\n"}
        del changed["templates/inputs/params.txt.j2"]
        changed["jobbergate.yaml"] = CONFIG.replace(b"supporting_files: [templates/inputs/params.txt.j2]", b"")
        response = put_archive(alice, "demo", tar_gz(changed))
        assert response.status_code == 200, response.content
        assert [f["filename"] for f in response.json()["template_files"]] == ["job.sh.j2"]
        assert alice.client.get(f"{URL}/demo/upload/template/job.sh.j2").content == b"#!/bin/bash\necho v2\n"
        assert JobScriptTemplate.objects.count() == 1

    def test_a_create_only_upload_creates_a_new_application(self, alice):
        assert put_archive(alice, "demo", tar_gz(FOLDER), create_only="true").status_code == 201

    @pytest.mark.parametrize("key", ["demo", "DEMO", "id"])
    def test_a_create_only_upload_onto_an_existing_application_is_a_409_that_changes_nothing(self, alice, bob, key):
        first = put_archive(alice, "demo", tar_gz(FOLDER), name="First", description="kept")
        key = str(first.json()["id"]) if key == "id" else key
        before = alice.client.get(f"{URL}/demo").json()
        changed = {**FOLDER, "templates/job.sh.j2": b"#!/bin/bash\necho replaced\n"}
        for persona in (alice, bob):
            response = put_archive(persona, key, tar_gz(changed), name="Second", create_only="true")
            assert response.status_code == 409, response.content
            assert "exists already" in response.json()["detail"] or "already in use" in response.json()["detail"]
        assert alice.client.get(f"{URL}/demo").json() == before
        assert alice.client.get(f"{URL}/demo/upload/template/job.sh.j2").content == FOLDER["templates/job.sh.j2"]
        assert JobScriptTemplate.objects.count() == 1

    def test_create_only_must_be_true_or_false(self, alice):
        assert put_archive(alice, "demo", tar_gz(FOLDER), create_only="maybe").status_code == 400
        assert not JobScriptTemplate.objects.exists()

    def test_another_user_cannot_replace_the_folder(self, alice, bob):
        put_archive(alice, "demo", tar_gz(FOLDER))
        assert put_archive(bob, "demo", tar_gz(FOLDER)).status_code == 403

    @pytest.mark.parametrize("archive_format", ["tar.gz", "zip"])
    def test_download_gives_the_same_folder_back(self, alice, archive_format):
        put_archive(alice, "demo", tar_gz(FOLDER))
        response = alice.client.get(f"{URL}/demo/application", {"archive_format": archive_format})
        assert response.status_code == 200
        assert read_archive(response.content, _limits()) == FOLDER

    def test_an_application_made_file_by_file_downloads_with_a_rebuilt_config(self, alice):
        from testkit.factories import make_template

        make_template(alice.email, identifier="legacy")
        files = read_archive(alice.client.get(f"{URL}/legacy/application").content, _limits())
        assert set(files) == {"jobbergate.yaml", "templates/job.sh.j2"}
        assert b"application_config" in files["jobbergate.yaml"]


def _limits():
    from applications.services import bundle_limits

    return bundle_limits()


def symlink(info):
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"


def hardlink(info):
    info.type = tarfile.LNKTYPE
    info.linkname = "demo-app/jobbergate.yaml"


def device(info):
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3


BAD_ARCHIVES = {
    "absolute path": (lambda: tar_gz({"/etc/jobbergate.yaml": CONFIG}, root=""), "absolute"),
    "dot dot": (lambda: tar_gz({**FOLDER, "../../evil.j2": b"x"}, root=""), ".."),
    "symlink": (lambda: tar_gz({"templates/link.j2": b""}, tweak=symlink), "link"),
    "hard link": (lambda: tar_gz({"templates/link.j2": b""}, tweak=hardlink), "link"),
    "device file": (lambda: tar_gz({"templates/dev.j2": b""}, tweak=device), "device"),
    "duplicate names": (lambda: zip_duplicates(), "twice"),
    "too many files": (lambda: tar_gz({**FOLDER, **{f"templates/t{n}.j2": b"x" for n in range(30)}}), "more than"),
    "zip bomb": (lambda: zip_bytes({**FOLDER, "templates/zeros.j2": b"0" * 3_000_000}), "bytes after decompression"),
    "not an archive": (lambda: b"just some bytes", "not a .tar.gz"),
    "missing jobbergate.yaml": (lambda: tar_gz({"templates/job.sh.j2": b"x"}), "jobbergate.yaml is missing"),
    "yaml that constructs objects": (
        lambda: tar_gz({**FOLDER, "jobbergate.yaml": b"!!python/object/apply:os.system ['touch /tmp/pwned']\n"}),
        "not valid YAML",
    ),
    "invalid yaml": (lambda: tar_gz({**FOLDER, "jobbergate.yaml": b"jobbergate_config: [unclosed\n"}), "YAML"),
    "default template missing": (
        lambda: tar_gz({**FOLDER, "jobbergate.yaml": CONFIG.replace(b"job.sh.j2", b"gone.sh.j2")}),
        "default_template",
    ),
    "python that does not parse": (lambda: tar_gz({**FOLDER, "jobbergate.py": b"def broken(:\n"}), "Python"),
    "jinja that does not parse": (lambda: tar_gz({**FOLDER, "templates/job.sh.j2": b"{% if %}"}), "Jinja2"),
    "non utf-8 template": (lambda: tar_gz({**FOLDER, "templates/job.sh.j2": b"\xff\xfe"}), "UTF-8"),
}


def zip_duplicates() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in FOLDER.items():
            archive.writestr(name, content)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            archive.writestr("jobbergate.yaml", CONFIG)
    return buffer.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("label", list(BAD_ARCHIVES))
def test_a_bad_archive_gets_a_clear_4xx_and_stores_nothing(alice, settings, label):
    settings.APPLICATION_MAX_FILES = 20
    settings.APPLICATION_MAX_BYTES = 2_000_000
    make, fragment = BAD_ARCHIVES[label]
    response = put_archive(alice, "bad", make())
    assert 400 <= response.status_code < 500, response.content
    assert fragment in response.json()["detail"], response.json()
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["12345", ""])
def test_a_new_application_needs_a_real_identifier(alice, key):
    response = put_archive(alice, key, tar_gz(FOLDER)) if key else None
    if response is not None:
        assert response.status_code == 404
    assert not JobScriptTemplate.objects.exists()
