"""import_applications and export_applications: bulk, per-application transactions, dry run, idempotent."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from applications.models import JobScriptTemplate

EXAMPLES = Path(settings.BASE_DIR) / "examples"


def run(*arguments) -> str:
    out = StringIO()
    call_command(*arguments, stdout=out)
    return out.getvalue()


@pytest.fixture
def apps_folder(tmp_path):
    """A folder of application folders: two good ones and one broken."""
    folder = tmp_path / "apps"
    shutil.copytree(EXAMPLES / "hello-serial", folder / "hello-serial")
    shutil.copytree(EXAMPLES / "mpi-ring", folder / "mpi-ring")
    broken = folder / "broken"
    shutil.copytree(EXAMPLES / "hello-serial", broken)
    (broken / "templates" / "job.sh.j2").write_text("{% if %}")
    return folder


@pytest.mark.django_db
def test_a_dry_run_reports_and_changes_nothing(apps_folder):
    with pytest.raises(CommandError, match="1 application"):
        run("import_applications", str(apps_folder), "--owner", "ops@example.com", "--dry-run")
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.django_db
def test_errors_are_reported_per_application_while_the_rest_import(apps_folder):
    out = StringIO()
    with pytest.raises(CommandError, match="broken"):
        call_command("import_applications", str(apps_folder), "--owner", "ops@example.com", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.strip().startswith("failed  broken") and "Jinja2 syntax error" in line for line in lines)
    assert any(line.strip().startswith("created  hello-serial") for line in lines)
    assert set(JobScriptTemplate.objects.values_list("identifier", flat=True)) == {"hello-serial", "mpi-ring"}
    assert JobScriptTemplate.objects.get(identifier="mpi-ring").owner_email == "ops@example.com"


@pytest.mark.django_db
def test_re_running_is_idempotent_and_an_edit_is_an_update(tmp_path):
    folder = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello-serial", folder)
    assert "created" in run("import_applications", str(folder), "--owner", "ops@example.com")
    assert "unchanged" in run("import_applications", str(folder))
    (folder / "templates" / "job.sh.j2").write_text("#!/bin/bash\necho edited\n")
    assert "updated" in run("import_applications", str(folder))
    assert JobScriptTemplate.objects.count() == 1


@pytest.mark.django_db
def test_creating_needs_an_owner(tmp_path):
    with pytest.raises(CommandError):
        run("import_applications", str(EXAMPLES / "hello-serial"))
    assert not JobScriptTemplate.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("archive_format", ["folder", "tar.gz", "zip"])
def test_export_then_import_gives_the_same_applications(tmp_path, archive_format):
    run("import_applications", str(EXAMPLES), "--owner", "ops@example.com")
    exported = tmp_path / "out"
    output = run("export_applications", str(exported), "--format", archive_format)
    assert "6 application(s) exported." in output
    again = run("import_applications", str(exported))
    assert again.count("unchanged") == 6


def test_a_path_that_is_not_an_application_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="not an application"):
        run("import_applications", str(tmp_path / "nowhere"))
