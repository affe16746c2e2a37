"""The jobbergate command against a live test server over real HTTP (CliRunner and real processes)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from jobbergate_cli.config import load_settings
from jobbergate_cli.main import cli
from jobbergate_cli.tokens import save_token

from testkit.factories import make_job_script, make_submission, make_template

JOBBERGATE = str(Path(sys.executable).parent / "jobbergate")


def all_commands(group: click.Group, ctx: click.Context, prefix=()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, ctx, (*prefix, name))


def test_every_help_page_has_an_example_and_makes_no_network_call(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a help page tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    runner = CliRunner()
    ctx = click.Context(cli)
    commands = [((), cli), *all_commands(cli, ctx)]
    assert len(commands) > 6
    for path, _ in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output, path


def test_help_is_fast_because_commands_load_lazily():
    code = (
        "import sys, jobbergate_cli.main; print(sorted(m for m in sys.modules if m.startswith(('requests', 'yaml'))))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_settings_come_from_flags_then_environment_then_the_config_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('base_api_url = "http://from-file:1"\ndefault_cluster_name = "file-cluster"\n')
    monkeypatch.setenv("JOBBERGATE_CONFIG", str(config))
    monkeypatch.delenv("BASE_API_URL", raising=False)
    monkeypatch.delenv("DEFAULT_CLUSTER_NAME", raising=False)
    assert load_settings().base_api_url == "http://from-file:1"
    monkeypatch.setenv("BASE_API_URL", "http://from-env:2")
    assert load_settings().base_api_url == "http://from-env:2"
    assert load_settings(base_api_url="http://from-flag:3").base_api_url == "http://from-flag:3"
    assert load_settings().default_cluster_name == "file-cluster"


def test_cached_tokens_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBBERGATE_CACHE_DIR", str(tmp_path / "cache"))
    path = save_token(load_settings(), "a.b.c")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture
def server(live_server, alice):
    template = make_template(alice.email, identifier="hello")
    job_script = make_job_script(alice.email, template=template, name="my script")
    make_submission(alice.email, job_script=job_script, name="my run")
    return live_server.url, alice.token


def run(server, *arguments, token=None, stdin=None, cwd=None):
    url, default_token = server
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "BASE_API_URL": url,
        "JOBBERGATE_TOKEN": default_token if token is None else token,
        "JOBBERGATE_CONFIG": "/nonexistent",
    }
    return subprocess.run(
        [JOBBERGATE, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin or "",
        cwd=cwd,
    )


@pytest.mark.django_db(transaction=True)
class TestAgainstALiveServer:
    def test_lists_and_shows_as_tables_and_json(self, server):
        listed = run(server, "applications", "list")
        assert listed.returncode == 0, listed.stderr
        assert "hello" in listed.stdout and "IDENTIFIER" in listed.stdout
        as_json = json.loads(run(server, "--json", "job-scripts", "list").stdout)
        assert [item["name"] for item in as_json["items"]] == ["my script"]
        shown = run(server, "applications", "get-one", "--id", "hello")
        assert "job.sh.j2" in shown.stdout
        runs = json.loads(run(server, "--raw", "job-submissions", "list", "--status", "CREATED").stdout)
        assert runs["total"] == 1

    def test_cli_runner_sees_the_same(self, server):
        url, token = server
        result = CliRunner().invoke(cli, ["--base-url", url, "--token", token, "--json", "applications", "list"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["items"][0]["identifier"] == "hello"

    @pytest.mark.parametrize(
        "arguments, token, status, fragment",
        [
            (("applications", "get-one", "--id", "nope"), None, 4, "Not found"),
            (("applications", "list"), "not-a-token", 3, "Malformed token"),
            (("applications", "list", "--size", "500"), None, 2, "--size"),
        ],
    )
    def test_failures_are_one_line_and_a_distinct_status(self, server, arguments, token, status, fragment):
        result = run(server, *arguments, token=token)
        assert result.returncode == status
        assert fragment in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.count("Error") == 1

    def test_a_server_that_is_down_is_status_5(self, server):
        result = run(("http://127.0.0.1:9", "token"), "applications", "list", token="a.b.c")
        assert result.returncode == 5
        assert "Cannot reach" in result.stderr


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello-serial"


@pytest.mark.django_db(transaction=True)
def test_the_application_life_cycle_from_the_terminal(server, tmp_path):
    from applications.models import JobScriptTemplate

    created = run(
        server,
        "--json",
        "applications",
        "create",
        "--name",
        "Hello",
        "--identifier",
        "hi",
        "--application-path",
        str(EXAMPLE),
        "--application-desc",
        "from the CLI",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["questions"][0]["name"] == "partition"
    assert run(server, "applications", "update", "--id", "hi", "--name", "Hello again").returncode == 0
    assert JobScriptTemplate.objects.get(identifier="hi").name == "Hello again"
    assert run(server, "applications", "clone", "--id", "hi", "--identifier", "hi-copy").returncode == 0
    downloaded = run(server, "applications", "download-files", "--id", "hi-copy", "--destination", str(tmp_path))
    assert downloaded.returncode == 0, downloaded.stderr
    assert (tmp_path / "hi-copy" / "templates" / "job.sh.j2").read_text() == (
        EXAMPLE / "templates/job.sh.j2"
    ).read_text()
    assert run(server, "applications", "delete", "--id", "hi-copy").returncode == 0
    assert not JobScriptTemplate.objects.filter(identifier="hi-copy").exists()
    without_identifier = run(server, "applications", "create", "--name", "anon", "--application-path", str(EXAMPLE))
    assert without_identifier.returncode == 0, without_identifier.stderr


@pytest.mark.django_db(transaction=True)
def test_create_onto_an_existing_identifier_fails_in_one_line_and_changes_nothing(server):
    from applications.models import JobScriptTemplate

    def stored():
        row = JobScriptTemplate.objects.get(identifier="hello")
        files = sorted((f.filename, f.storage_key, f.updated_at) for f in row.template_files.all())
        return row.name, row.updated_at, files

    before = stored()
    arguments = ("applications", "create", "--name", "Other", "--identifier", "hello", "--application-path")
    result = run(server, *arguments, str(EXAMPLE))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "exists already" in result.stderr
    assert f"use: jobbergate applications update hello --application-path {EXAMPLE}" in result.stderr
    assert stored() == before
    assert JobScriptTemplate.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_create_the_server_refuses_leaves_no_empty_application(server, tmp_path):
    from applications.models import JobScriptTemplate

    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "job.sh.j2").write_text("#!/bin/bash\n")
    (tmp_path / "jobbergate.yaml").write_text("jobbergate_config: [unclosed\n")
    result = run(server, "applications", "create", "--name", "broken", "--application-path", str(tmp_path))
    assert result.returncode == 1
    assert "HTTP 422" in result.stderr
    assert list(JobScriptTemplate.objects.values_list("identifier", flat=True)) == ["hello"]


@pytest.mark.django_db(transaction=True)
def test_a_folder_without_jobbergate_yaml_is_a_usage_error(server, tmp_path):
    result = run(
        server, "applications", "create", "--name", "x", "--identifier", "x", "--application-path", str(tmp_path)
    )
    assert result.returncode == 2
    assert "no jobbergate.yaml" in result.stderr


@pytest.fixture
def hello(server):
    created = run(
        server,
        "applications",
        "create",
        "--name",
        "Hello",
        "--identifier",
        "hello-serial",
        "--application-path",
        str(EXAMPLE),
    )
    assert created.returncode == 0, created.stderr
    return server


def script_of(job_script_id: int) -> str:
    from jobscripts.models import JobScript

    return JobScript.objects.get(pk=job_script_id).files.get(file_type="ENTRYPOINT").read_text()


@pytest.mark.django_db(transaction=True)
class TestRenderingFromTheTerminal:
    def test_answers_typed_at_the_prompt(self, hello):
        result = run(
            hello,
            "--json",
            "job-scripts",
            "create",
            "hello-serial",
            "--name",
            "asked",
            stdin="compute\n30\nmyjob\nhi there\n",
        )
        assert result.returncode == 0, result.stderr
        script = script_of(json.loads(result.stdout[result.stdout.index("{") :])["id"])
        assert "#SBATCH --partition=compute" in script and "#SBATCH --time=30" in script
        assert 'echo "hi there"' in script

    def test_fast_takes_the_defaults_and_says_which(self, hello):
        result = run(hello, "job-scripts", "create", "hello-serial", "--fast", "--sbatch-params", "--mem=1G")
        assert result.returncode == 0, result.stderr
        assert "DEFAULT USED" in result.stdout and "partition" in result.stdout
        from jobscripts.models import JobScript

        assert "#SBATCH --mem=1G" in script_of(JobScript.objects.latest("id").pk)

    def test_download_writes_the_rendered_files_here(self, hello, tmp_path):
        result = run(hello, "job-scripts", "create", "hello-serial", "--fast", "--download", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "job.sh").read_text().startswith("#!/bin/bash")

    def test_a_param_file_answers_and_the_server_checks_them(self, hello, tmp_path):
        answers = tmp_path / "answers.yaml"
        answers.write_text("partition: compute\nminutes: 500\njob_name: ok\nmessage: m\n")
        result = run(hello, "job-scripts", "create", "hello-serial", "--param-file", str(answers))
        assert result.returncode == 1
        assert "param_dict.minutes" in result.stderr and "at most 120" in result.stderr

    def test_a_param_file_that_does_not_parse_is_a_usage_error(self, hello, tmp_path):
        broken = tmp_path / "answers.json"
        broken.write_text("{nope")
        result = run(hello, "job-scripts", "create", "hello-serial", "--param-file", str(broken))
        assert result.returncode == 2
        assert "does not parse" in result.stderr

    def test_create_submit_and_watch(self, hello, agent):
        result = run(
            hello,
            "--json",
            "job-scripts",
            "create",
            "hello-serial",
            "--fast",
            "--submit",
            "--cluster-name",
            "cluster-a",
        )
        assert result.returncode == 0, result.stderr
        from submissions.models import JobSubmission

        submission = JobSubmission.objects.get(job_script__parent_template__identifier="hello-serial")
        assert submission.status == "CREATED"
        agent.client.post(
            "/jobbergate/job-submissions/agent/submitted", {"id": submission.pk, "slurm_job_id": 41}, format="json"
        )
        agent.client.put(
            f"/jobbergate/job-submissions/agent/{submission.pk}", {"slurm_job_state": "COMPLETED"}, format="json"
        )
        watched = run(hello, "job-submissions", "watch", str(submission.pk), "--interval", "0.2")
        assert watched.returncode == 0, watched.stderr
        assert "DONE Slurm COMPLETED" in watched.stdout
        failed = run(hello, "job-submissions", "clone", "--id", str(submission.pk))
        assert failed.returncode == 0
        clone_id = JobSubmission.objects.get(cloned_from=submission).pk
        assert run(hello, "job-submissions", "cancel", "--id", str(clone_id)).returncode == 0
        assert run(hello, "job-submissions", "watch", str(clone_id), "--interval", "0.2").returncode == 1

    def test_waiting_on_a_cluster_no_agent_serves_says_so_once_and_times_out_with_its_own_status(self, hello, agent):
        """Issue 11, item 8: without an agent the wait used to last forever, silently."""
        waited = run(
            hello,
            *("job-scripts", "create", "hello-serial", "--fast", "--submit", "--cluster-name", "nowhere"),
            *("--wait", "--timeout", "1"),
        )
        assert waited.returncode == 6, waited.stderr
        assert waited.stderr.count("Cluster 'nowhere' has never reported: no agent serves it yet") == 1
        assert "Stopped waiting after 1 s" in waited.stderr
        from submissions.models import ClusterStatus, JobSubmission

        agent.client.put("/jobbergate/clusters/status?interval=60")  # cluster-a's agent reported once ...
        ClusterStatus.objects.filter(client_id="cluster-a").update(last_reported="2026-01-01T00:00:00Z")  # ... long ago
        script_id = JobSubmission.objects.get(client_id="nowhere").job_script_id
        created = run(hello, "job-submissions", "create", str(script_id), "-n", "again", "--cluster-name", "cluster-a")
        assert created.returncode == 0, created.stderr
        submission = JobSubmission.objects.get(client_id="cluster-a", name="again")
        watched = run(hello, "job-submissions", "watch", str(submission.pk), "--interval", "0.2", "--timeout", "0.5")
        assert watched.returncode == 6
        assert "Cluster 'cluster-a' last reported at 2026-01-01" in watched.stderr
        assert "its agent seems to be down" in watched.stderr
        assert run(hello, "job-submissions", "create", str(script_id), "-n", "x", "--timeout", "1").returncode == 2

    def test_stand_alone_show_and_download(self, server, tmp_path):
        script = tmp_path / "run.sh"
        script.write_text("#!/bin/bash\necho alone\n")
        created = run(server, "--json", "job-scripts", "create-stand-alone", str(script), "--name", "alone")
        assert created.returncode == 0, created.stderr
        job_id = str(json.loads(created.stdout)["id"])
        assert "echo alone" in run(server, "job-scripts", "show-files", "--id", job_id).stdout
        out = tmp_path / "out"
        assert run(server, "job-scripts", "download-files", "--id", job_id, "--destination", str(out)).returncode == 0
        assert (out / "run.sh").read_text() == "#!/bin/bash\necho alone\n"


@pytest.mark.django_db(transaction=True)
def test_login_with_the_device_flow_against_the_real_provider(live_server, oidc, tmp_path):
    """The person's part (open the URL, sign in, approve) is scripted over HTTP, as a browser would do it."""
    import requests

    from testkit.oidc import submit_forms

    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "BASE_API_URL": live_server.url,
        "OIDC_DOMAIN": oidc.issuer.removeprefix("http://"),
        "OIDC_USE_HTTPS": "false",
        "OIDC_CLIENT_ID": "jobbergate-cli",
        "JOBBERGATE_CACHE_DIR": str(tmp_path / "cache"),
        "JOBBERGATE_CONFIG": "/nonexistent",
    }
    process = subprocess.Popen(
        [JOBBERGATE, "login", "--no-browser"], env=environment, stderr=subprocess.PIPE, text=True
    )
    line = process.stderr.readline()
    assert line.startswith("Open "), line
    url = line.split()[1]
    browser = requests.Session()
    assert "Success" in submit_forms(browser, browser.get(url, timeout=10), login="alice").text
    assert process.wait(timeout=60) == 0
    assert "Signed in as alice@example.com" in process.stderr.read()
    for label in ("access", "refresh"):
        assert stat.S_IMODE((tmp_path / "cache" / "token" / f"{label}.token").stat().st_mode) == 0o600

    def jobbergate(*arguments):
        return subprocess.run([JOBBERGATE, *arguments], env=environment, capture_output=True, text=True, timeout=60)

    claims = json.loads(jobbergate("show-token", "--decode").stdout)
    assert claims["email"] == "alice@example.com" and claims["aud"] == oidc.audience
    assert jobbergate("applications", "list").returncode == 0
    assert jobbergate("logout").returncode == 0
    signed_out = jobbergate("applications", "list")
    assert signed_out.returncode == 3 and "Not signed in" in signed_out.stderr


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def legacy(server):
    for name in ("legacy-simulation", "legacy-preprocess"):
        created = run(
            server,
            "applications",
            "create",
            "--name",
            name,
            "--identifier",
            name,
            "--application-path",
            str(EXAMPLES / name),
        )
        assert created.returncode == 0, created.stderr
    return server


@pytest.mark.django_db(transaction=True)
class TestUpstreamWorkflows:
    """Unmodified upstream-style jobbergate.py applications from examples/, run by our command."""

    def test_answers_at_the_prompt_follow_nextworkflow_and_boolean_lists(self, legacy):
        # partition, steps, solver; then outputs (checkbox), restart (yes) and its follow-up restart_file.
        result = run(
            legacy,
            "--json",
            "job-scripts",
            "create",
            "legacy-simulation",
            stdin="debug\n250\ngmres\npressure, velocity\ny\nold.h5\n",
        )
        assert result.returncode == 0, result.stderr
        job_id = json.loads(result.stdout[result.stdout.index("{") :])["id"]
        from jobscripts.models import JobScript

        job_script = JobScript.objects.get(pk=job_id)
        settings_file = job_script.files.get(filename="settings.ini").read_text()
        assert "steps = 250" in settings_file and "solver = gmres" in settings_file
        assert "fields = pressure,velocity" in settings_file
        assert "--restart old.h5" in script_of(job_id)
        assert "#SBATCH --partition=debug" in script_of(job_id)

    def test_fast_mode_on_the_older_import_paths(self, legacy):
        result = run(legacy, "job-scripts", "create", "legacy-preprocess", "--fast")
        assert result.returncode == 0, result.stderr
        assert "chunks" in result.stdout and "DEFAULT USED" in result.stdout
        from jobscripts.models import JobScript

        script = script_of(JobScript.objects.latest("id").pk)
        assert "#SBATCH --array=1-4" in script and "--version 2.3" in script and "gzip -6" in script

    def test_a_param_file_skips_the_questions_it_answers(self, legacy, tmp_path):
        answers = tmp_path / "answers.json"
        answers.write_text(json.dumps({"chunks": 8, "compress": False}))
        result = run(
            legacy, "job-scripts", "create", "legacy-preprocess", "--param-file", str(answers), stdin="/data/in\n"
        )
        assert result.returncode == 0, result.stderr
        from jobscripts.models import JobScript

        script = script_of(JobScript.objects.latest("id").pk)
        assert "--input /data/in" in script and "#SBATCH --array=1-8" in script and "gzip" not in script


def test_submission_options_without_submit_are_a_usage_error():
    result = subprocess.run(
        [JOBBERGATE, "job-scripts", "create", "hello", "--cluster-name", "cluster-a"],
        env={"PATH": os.environ["PATH"], "HOME": "/tmp", "BASE_API_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "go with --submit" in result.stderr


def test_a_real_folder_uploads_and_the_cli_names_what_was_skipped(server, tmp_path):
    """Issue 11, item 4: a README and example outputs beside the application are skipped, with one line."""
    folder = tmp_path / "real-app"
    shutil.copytree(EXAMPLE, folder)
    (folder / "README.md").write_text("# Hello\n")
    (folder / "outputs").mkdir()
    (folder / "outputs" / "slurm-1.out").write_text("hello\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    result = run(server, "applications", "create", "--name", "Real", "--identifier", "real-app", "-a", str(folder))
    assert result.returncode == 0, result.stderr
    assert "Skipped (not part of an application): README.md, outputs/slurm-1.out" in result.stderr
    assert ".git" not in result.stderr
