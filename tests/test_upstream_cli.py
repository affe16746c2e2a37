"""Wire compatibility: the unmodified upstream ``jobbergate-cli`` 5.12 from PyPI against a live server.

The CLI is installed by scripts/test into its own virtualenv (``.venv-upstream``); it is given a server-issued
token in its token cache, exactly as a site would hand one to its users, and talks to the server over real HTTP.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from accounts.tokens import issue_api_token
from applications.models import JobScriptTemplate
from conftest import require_real_part
from jobbergate.testing.personas import USER_PERMISSIONS
from jobscripts.models import JobScript
from submissions.models import JobSubmission

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_CLI = Path(os.environ.get("JOBBERGATE_UPSTREAM_CLI", ROOT / ".venv-upstream/bin/jobbergate"))

pytestmark = [pytest.mark.interop, pytest.mark.django_db(transaction=True)]

APPLICATION_FILES = {
    "jobbergate.yaml": """\
jobbergate_config:
  default_template: templates/job.sh.j2
  template_files: [templates/job.sh.j2, templates/input.txt.j2]
  supporting_files: [templates/input.txt.j2]
  job_script_name: hello
application_config:
  partition: debug
  message: hello
""",
    "jobbergate.py": """\
from jobbergate_cli.subapps.applications.application_base import JobbergateApplicationBase
from jobbergate_cli.subapps.applications.questions import Text


class JobbergateApplication(JobbergateApplicationBase):
    def mainflow(self, data):
        return [Text("message", message="What to say?", default="hi")]
""",
    "templates/job.sh.j2": "#!/bin/bash\n#SBATCH --partition={{ data.partition }}\necho {{ data.message }}\n",
    "templates/input.txt.j2": "value={{ data.message }}\n",
}


@pytest.fixture
def upstream(live_server, tmp_path):
    """Run the upstream CLI as alice, with a server-issued token placed in its token cache."""
    if not UPSTREAM_CLI.exists():
        require_real_part(f"{UPSTREAM_CLI} is missing: scripts/test installs requirements-upstream.txt there")
    user = get_user_model().objects.create(username="alice@example.com", email="alice@example.com")
    token = issue_api_token(user=user, permissions=USER_PERMISSIONS).token
    cache = tmp_path / "cache"
    (cache / "token").mkdir(parents=True)
    (cache / "token" / "access.token").write_text(token)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BASE_API_URL": live_server.url,
        "JOBBERGATE_CACHE_DIR": str(cache),
        "OIDC_DOMAIN": "127.0.0.1:9/unused",
        "OIDC_CLIENT_ID": "cli",
        "COLUMNS": "250",
    }
    work = tmp_path / "work"
    work.mkdir()

    def run(*arguments: str) -> str:
        result = subprocess.run(
            [str(UPSTREAM_CLI), *arguments], env=environment, cwd=work, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"jobbergate {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    run.work = work
    return run


def make_application_folder(root: Path) -> Path:
    for name, text in APPLICATION_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_upstream_cli_creates_lists_and_downloads_applications(upstream, tmp_path):
    folder = make_application_folder(tmp_path / "sample-app")
    upstream("applications", "create", "--name", "sample", "--identifier", "sample", "--application-path", str(folder))
    template = JobScriptTemplate.objects.get(identifier="sample")
    assert template.owner_email == "alice@example.com"
    assert template.template_vars == {"partition": "debug", "message": "hello"}
    assert dict(template.template_files.values_list("filename", "file_type")) == {
        "job.sh.j2": "ENTRYPOINT",
        "input.txt.j2": "SUPPORT",
    }
    assert template.workflow_files.get().runtime_config["default_template"] == "templates/job.sh.j2"

    assert "sample" in upstream("applications", "list")
    upstream("applications", "update", "--identifier", "sample", "--application-desc", "described")
    template.refresh_from_db()
    assert template.description == "described"
    assert template.identifier == "sample"

    upstream(
        "job-scripts", "create", "sample", "--name", "rendered", "--fast", "--no-submit", "--sbatch-params", "--time=5"
    )
    rendered = JobScript.objects.get(parent_template=template)
    script = rendered.files.get(filename="job.sh").read_text()
    assert script.startswith("#!/bin/bash\n#SBATCH --partition=debug\n")
    assert "#SBATCH --time=5\n" in script and "echo hi\n" in script
    assert rendered.files.get(filename="input.txt").read_text() == "value=hi\n"
    assert rendered.render_parameters["data"]["message"] == "hi"

    upstream("applications", "download-files", "--identifier", "sample")
    assert (upstream.work / "templates" / "job.sh.j2").read_text() == APPLICATION_FILES["templates/job.sh.j2"]
    assert (upstream.work / "jobbergate.py").read_text() == APPLICATION_FILES["jobbergate.py"]


def test_upstream_cli_creates_and_lists_job_scripts_and_submits_one(upstream, tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/bash\n#SBATCH -N1\necho hi\n")
    support = tmp_path / "input.txt"
    support.write_text("42\n")
    upstream("job-scripts", "create-stand-alone", str(script), "--name", "alone", "--supporting-file", str(support))
    job_script = JobScript.objects.get(name="alone")
    assert dict(job_script.files.values_list("filename", "file_type")) == {
        "run.sh": "ENTRYPOINT",
        "input.txt": "SUPPORT",
    }
    assert "alone" in upstream("job-scripts", "list")
    assert "echo hi" in upstream("job-scripts", "show-files", "--id", str(job_script.pk))

    upstream(
        "job-submissions",
        "create",
        "--job-script-id",
        str(job_script.pk),
        "--name",
        "first run",
        "--cluster-name",
        "cluster-a",
        "--no-download",
    )
    submission = JobSubmission.objects.get(name="first run")
    assert (submission.status, submission.client_id, submission.job_script_id) == (
        "CREATED",
        "cluster-a",
        job_script.pk,
    )
    assert "first run" in upstream("job-submissions", "list")
