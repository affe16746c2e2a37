"""``jobbergate job-scripts create-locally``: an application folder rendered on the user's machine gives the same
files the server renders from the same folder and answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

JOBBERGATE = str(Path(sys.executable).parent / "jobbergate")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def jobbergate(*arguments, cwd=None, stdin="", url="http://127.0.0.1:9", token=""):
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "BASE_API_URL": url,
        "JOBBERGATE_TOKEN": token,
        "JOBBERGATE_CONFIG": "/nonexistent",
    }
    return subprocess.run(
        [JOBBERGATE, *arguments], env=environment, capture_output=True, text=True, timeout=60, input=stdin, cwd=cwd
    )


def test_typed_questions_fast_with_sbatch_params(tmp_path):
    result = jobbergate(
        "job-scripts",
        "create-locally",
        "--application-path",
        str(EXAMPLES / "hello-serial"),
        "--output-path",
        str(tmp_path),
        "--fast",
        "--sbatch-params=--time=10",
    )
    assert result.returncode == 0, result.stderr
    script = (tmp_path / "job.sh").read_text()
    assert script.startswith("#!/bin/bash")
    assert "#SBATCH --time=10\n" in script
    assert "partition" in result.stdout  # the table of the defaults used


def test_an_upstream_workflow_in_fast_mode(tmp_path):
    fast = jobbergate(
        "job-scripts",
        "create-locally",
        "-a",
        str(EXAMPLES / "legacy-simulation"),
        "-o",
        str(tmp_path / "out"),
        "--fast",
    )
    assert fast.returncode == 0, fast.stderr
    assert any(path.is_file() for path in (tmp_path / "out").iterdir())


@pytest.mark.django_db(transaction=True)
def test_the_same_files_as_the_server_renders(live_server, alice, tmp_path):
    created = jobbergate(
        "applications",
        "create",
        "--name",
        "hello",
        "--identifier",
        "hello-local",
        "--application-path",
        str(EXAMPLES / "hello-serial"),
        url=live_server.url,
        token=alice.token,
    )
    assert created.returncode == 0, created.stderr
    server = tmp_path / "server"
    server.mkdir()
    remote = jobbergate(
        "job-scripts",
        "create",
        "hello-local",
        "--fast",
        "--sbatch-params=--time=10",
        "--download",
        cwd=server,
        url=live_server.url,
        token=alice.token,
    )
    assert remote.returncode == 0, remote.stderr
    local = jobbergate(
        "job-scripts",
        "create-locally",
        "-a",
        str(EXAMPLES / "hello-serial"),
        "-o",
        str(tmp_path / "local"),
        "--fast",
        "--sbatch-params=--time=10",
    )
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "local" / "job.sh").read_text() == (server / "job.sh").read_text()


@pytest.fixture
def app(tmp_path):
    folder = tmp_path / "app"
    (folder / "templates").mkdir(parents=True)
    (folder / "jobbergate.yaml").write_text(
        "jobbergate_config:\n  default_template: templates/job.sh.j2\napplication_config:\n  name: x\n"
    )
    return folder


@pytest.mark.parametrize(
    "template, fragment",
    [
        ("echo {{ missing }}\n", "'missing' is undefined"),
        ("{{ ''.__class__.__mro__ }}\n", "unsafe"),
        ("{% if %}\n", "job.sh.j2 on line 1"),
    ],
)
def test_template_failures_are_one_line(app, tmp_path, template, fragment):
    (app / "templates" / "job.sh.j2").write_text(template)
    result = jobbergate("job-scripts", "create-locally", "-a", str(app), "-o", str(tmp_path / "out"), "--fast")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr


def test_an_undefined_variable_may_be_tested(app, tmp_path):
    (app / "templates" / "job.sh.j2").write_text("{% if missing %}yes{% else %}{{ data.name }}{% endif %}\n")
    result = jobbergate("job-scripts", "create-locally", "-a", str(app), "-o", str(tmp_path / "out"), "--fast")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "job.sh").read_text() == "x\n"


def test_a_folder_without_jobbergate_yaml_is_a_usage_error(tmp_path):
    result = jobbergate("job-scripts", "create-locally", "-a", str(tmp_path), "--fast")
    assert result.returncode == 2
    assert "has no jobbergate.yaml" in result.stderr
