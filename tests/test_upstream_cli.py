"""Wire compatibility: the unmodified upstream ``jobbergate-cli`` 5.12 from PyPI against a live server.

The CLI is installed by scripts/test into its own virtualenv (``.venv-upstream``); it is given a server-issued
token in its token cache, exactly as a site would hand one to its users, and talks to the server over real HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model

from accounts.tokens import issue_api_token
from applications.models import JobScriptTemplate
from conftest import require_real_part
from jobbergate.choices import USER_PERMISSIONS
from jobscripts.models import JobScript
from submissions.models import JobSubmission

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_CLI = Path(os.environ.get("JOBBERGATE_UPSTREAM_CLI", ROOT / ".venv-upstream/bin/jobbergate"))
OUR_CLI = Path(sys.executable).parent / "jobbergate"

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
def upstream(live_server, tmp_path, settings):
    """Run the upstream CLI as alice, with a server-issued token placed in its token cache (the server's per-caller
    request slots are each test's own: conftest's LOCK_DIR)."""
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
    run = runner(UPSTREAM_CLI, environment, tmp_path / "work")
    run.token = token
    return run


def runner(executable: Path, environment: dict[str, str], work: Path):
    """``run(*arguments)``: the CLI in ``work``, which must succeed; its stdout."""
    work.mkdir()

    def run(*arguments: str) -> str:
        result = subprocess.run(
            [str(executable), *arguments], env=environment, cwd=work, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"jobbergate {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    run.work = work
    return run


@pytest.fixture
def ours(upstream, live_server, tmp_path):
    """Our CLI as the same alice, with the same token, against the same server."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BASE_API_URL": live_server.url,
        "JOBBERGATE_TOKEN": upstream.token,
        "JOBBERGATE_CONFIG": "/nonexistent",
        "JOBBERGATE_CACHE_DIR": str(tmp_path / "our-cache"),
    }
    return runner(OUR_CLI, environment, tmp_path / "our-work")


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


# Upstream command lines, each run by both CLIs: {tag} is "up" for upstream's run and "our" for ours, so each CLI
# makes its own rows; @app:NAME (@script:, @submission:) is the id of the row that CLI made with that name.
UPSTREAM_COMMAND_LINES = [
    "applications create --name app-{tag} --identifier app-{tag} --application-path {folder} --application-desc first",
    "applications update --identifier app-{tag} --application-name renamed-{tag} --application-desc described",
    "applications get-one --identifier app-{tag}",
    "applications update @app:renamed-{tag} --update-identifier app2-{tag}",
    "applications clone --identifier app2-{tag} --application-identifier copy-{tag} --application-name copy-{tag}"
    " --application-desc cloned",
    "applications update --id @app:copy-{tag} --is-archived",
    "applications download-files --identifier app2-{tag}",
    "applications list --all --sort-order DESCENDING -p 1 -s 10",
    "job-scripts create --application-identifier app2-{tag} --name js-{tag} --description made --fast --no-submit"
    " --no-download --sbatch-params --time=5",
    "job-scripts create --application-id @app:renamed-{tag} --name js2-{tag} --fast --no-submit --no-download",
    "job-scripts create app2-{tag} --name js3-{tag} --fast --no-submit --no-download",
    "job-scripts update @script:js2-{tag} --is-archived",
    "job-scripts clone @script:js-{tag} --name jsc-{tag} --description cloned",
    "job-scripts create-stand-alone --job-script-path {script_file} --name alone-{tag} --supporting-file {support}",
    "job-scripts list --all --sort-order ASCENDING",
    "job-scripts create-locally {folder} --name local --fast --output-path {work}/local",
    "job-submissions create @script:alone-{tag} --name sub-{tag} --description described --cluster-name cluster-a"
    " --execution-directory /scratch/{tag} --no-download",
    "job-submissions create --job-script-id @script:js-{tag} --name sub2-{tag} --cluster-name cluster-a"
    " --execution-directory {work}/run --download",
    "job-submissions list --all --sort-order UNSORTED",
    "job-submissions get-one @submission:sub-{tag}",
]


def command_line(template: str, tag: str, **places: str) -> list[str]:
    """One of UPSTREAM_COMMAND_LINES for one CLI, ids looked up among the rows that CLI made."""
    models = {"app": JobScriptTemplate, "script": JobScript, "submission": JobSubmission}
    words = []
    for word in template.format(tag=tag, **places).split():
        if word.startswith("@"):
            kind, name = word[1:].split(":", 1)
            word = str(models[kind].objects.get(name=name).pk)
        words.append(word)
    return words


def made_by(tag: str, work: Path) -> dict:
    """What one CLI made, its tag and its working folder written as placeholders so the two can be compared."""

    def plain(value):
        return str(value).replace(str(work), "WORK").replace(f"-{tag}", "-TAG").replace(f"/{tag}", "/TAG")

    def files(rows):
        return {row.filename: (row.file_type, row.read_text()) for row in rows.all()}

    templates = JobScriptTemplate.objects.filter(name__endswith=f"-{tag}").order_by("name")
    scripts = JobScript.objects.filter(name__endswith=f"-{tag}").order_by("name")
    submissions = JobSubmission.objects.filter(name__endswith=f"-{tag}").order_by("name")
    return {
        "applications": [
            (plain(t.name), plain(t.identifier), t.description, t.is_archived, t.template_vars, files(t.template_files))
            for t in templates
        ],
        "job scripts": [
            (
                plain(s.name),
                s.description,
                s.is_archived,
                plain(s.parent_template.name if s.parent_template else None),
                plain(s.cloned_from.name if s.cloned_from else None),
                files(s.files),
            )
            for s in scripts
        ],
        "job submissions": [
            (plain(s.name), s.description, s.status, s.client_id, plain(s.job_script.name), s.sbatch_arguments)
            for s in submissions
        ],
        "execution directories": [plain(s.execution_directory) for s in submissions],
    }


def test_the_same_upstream_command_lines_make_the_same_rows_through_both_clis(upstream, ours, tmp_path):
    folder = make_application_folder(tmp_path / "sample-app")
    # Upstream lets an application's job_script_name override --name; ours keeps the name the user typed.
    config = folder / "jobbergate.yaml"
    config.write_text(config.read_text().replace("  job_script_name: hello\n", ""))
    script_file = tmp_path / "run.sh"
    script_file.write_text("#!/bin/bash\n#SBATCH -N1\necho hi\n")
    support = tmp_path / "input.txt"
    support.write_text("42\n")
    places = {"folder": str(folder), "script_file": str(script_file), "support": str(support)}
    for run in (upstream, ours):
        (run.work / "local").mkdir()
        (run.work / "run").mkdir()
    for template in UPSTREAM_COMMAND_LINES:
        for tag, run in (("up", upstream), ("our", ours)):
            run(*command_line(template, tag, work=str(run.work), **places))

    theirs, mine = made_by("up", upstream.work), made_by("our", ours.work)
    assert len(theirs["applications"]) == 2 and len(theirs["job scripts"]) == 5 and len(theirs["job submissions"]) == 2
    assert mine == theirs
    for path in ("run/job.sh", "run/input.txt"):
        assert (ours.work / path).read_text() == (upstream.work / path).read_text(), path
    # create-locally: upstream's local rendering drops a template's last newline; ours keeps it, as the server does.
    for path in ("local/job.sh", "local/input.txt"):
        assert (ours.work / path).read_text() == (upstream.work / path).read_text() + "\n", path
    # download-files: upstream writes the application's files straight into the folder it runs in, and writes
    # jobbergate.yaml anew from the API's fields; ours writes them into a folder named after the application.
    downloaded = ours.work / "app2-our"
    for path in ("jobbergate.py", "templates/job.sh.j2", "templates/input.txt.j2"):
        assert (downloaded / path).read_text() == (upstream.work / path).read_text(), path
    config = yaml.safe_load((upstream.work / "jobbergate.yaml").read_text())
    assert yaml.safe_load((downloaded / "jobbergate.yaml").read_text()) == config
