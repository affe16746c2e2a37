"""Application folders as users have them (issue 11, item 4): a README, example inputs, outputs and a .git beside
the application. What belongs to the application is stored, the rest is skipped and named; hidden files, VCS
folders and caches are skipped without a word; the limits stay as strict (skipped files are read under them)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from applications.models import JobScriptTemplate
from applications.tests.test_folders import FOLDER, put_archive, tar_gz

pytestmark = pytest.mark.django_db

EXTRAS = {
    "README.md": b"# My application\n",
    "examples/answers.yaml": b"nodes: 2\n",
    "outputs/slurm-1.out": b"hello\n",
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".DS_Store": b"\0\1",
    "__pycache__/jobbergate.cpython-311.pyc": b"\0",
    "templates/.job.sh.j2.swp": b"\0",
}


def test_a_real_folder_uploads_and_names_what_it_skipped(alice):
    response = put_archive(alice, "real", tar_gz({**FOLDER, **EXTRAS}))
    assert response.status_code == 201, response.content
    assert response.json()["skipped_files"] == ["README.md", "examples/answers.yaml", "outputs/slurm-1.out"]
    stored = JobScriptTemplate.objects.get(identifier="real")
    assert sorted(stored.template_files.values_list("filename", flat=True)) == ["inputs/params.txt.j2", "job.sh.j2"]


def test_a_clean_folder_skips_nothing(alice):
    assert put_archive(alice, "clean", tar_gz(FOLDER)).json()["skipped_files"] == []


def test_skipped_files_still_count_toward_the_limits(alice, settings):
    settings.APPLICATION_MAX_FILES = len(FOLDER) + 1
    response = put_archive(alice, "crowded", tar_gz({**FOLDER, **EXTRAS}))
    assert response.status_code == 422
    assert "members" in response.json()["detail"]


def test_the_import_command_names_what_it_skipped(tmp_path):
    folder = tmp_path / "real"
    for name, content in {**FOLDER, **EXTRAS}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    out = StringIO()
    call_command("import_applications", str(folder), "--owner", "ops@example.com", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "real" in line)
    assert "created" in line
    assert "skipped (not part of an application): README.md, examples/answers.yaml, outputs/slurm-1.out" in line
    assert ".git" not in line and "__pycache__" not in line
