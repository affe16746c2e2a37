"""On-site submission: ``jobbergate`` on a login node runs sbatch itself and registers the job as SUBMITTED.

The real command runs as a process against a live server; the tests marked slurm use the throw-away Slurm cluster
(SLURM_CONF, scripts/with-slurm or scripts/test) and a real agent cycle. Execution directories are fresh folders
(Slurm job ids restart with each cluster) and jobs write ``out-<id>.txt``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import require_real_part
from submissions.models import JobSubmission
from testkit.slurm import fresh, slurm_job_script, until

pytestmark = pytest.mark.django_db(transaction=True)

JOBBERGATE = str(Path(sys.executable).parent / "jobbergate")
SBATCH = "/usr/bin/sbatch"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello-serial"


@pytest.fixture(scope="module")
def slurm_cluster():
    if not os.environ.get("SLURM_CONF"):
        require_real_part("no Slurm cluster: scripts/test or scripts/with-slurm starts one as root (SLURM_CONF)")
    if not os.access(SBATCH, os.X_OK):
        require_real_part(f"no {SBATCH}: apt-get install slurm-client")


def jobbergate(live_server, token, *arguments, sbatch=SBATCH, cwd=None):
    """The real command with SBATCH_PATH set (None: unset), as a user on the cluster's login node runs it."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "BASE_API_URL": live_server.url,
        "JOBBERGATE_TOKEN": token,
        "JOBBERGATE_CONFIG": "/nonexistent",
    }
    if sbatch is not None:
        environment["SBATCH_PATH"] = str(sbatch)
    if os.environ.get("SLURM_CONF"):
        environment["SLURM_CONF"] = os.environ["SLURM_CONF"]
    return subprocess.run(
        [JOBBERGATE, *arguments], env=environment, capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.fixture
def agent_cycle(live_server, agent, tmp_path):
    """One real agent cycle (``jobbergate agent run --once``) for cluster-a."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "SLURM_CONF": os.environ.get("SLURM_CONF", ""),
        "JOBBERGATE_AGENT_BASE_API_URL": live_server.url,
        "JOBBERGATE_AGENT_TOKEN": agent.token,
        "JOBBERGATE_AGENT_CACHE_DIR": str(tmp_path / "agent-cache"),
        "JOBBERGATE_AGENT_CONFIG": "/nonexistent",
        # The on-site jobs here are root's (the tests run as root): let the agent map owners to root.
        "JOBBERGATE_AGENT_MIN_UID": "0",
    }

    def cycle():
        result = subprocess.run(
            [JOBBERGATE, "agent", "run", "--once"], env=environment, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr
        return result

    return cycle


def unique_name() -> str:
    return f"onsite-{uuid.uuid4().hex[:12]}"


def slurm_jobs_named(job_name: str) -> set[int]:
    """Every job of that name, in the controller or in accounting."""
    queue = subprocess.run(
        ["squeue", "-h", "-t", "all", "-n", job_name, "-o", "%i"], capture_output=True, text=True, timeout=60
    ).stdout
    accounted = subprocess.run(
        ["sacct", "-P", "-n", "-X", "-a", "-S", "now-3600", "--name", job_name, "-o", "JobID"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return {int(line) for line in (queue + accounted).split() if line.strip().isdigit()}


def json_out(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{") :])


@pytest.mark.slurm
def test_create_on_site_submits_here_and_the_agent_only_tracks_it(
    slurm_cluster, live_server, alice, agent_cycle, workdir
):
    name = unique_name()
    script = slurm_job_script(alice.email, "cat input.txt; pwd", job_name=name, name="on site")
    result = jobbergate(
        live_server,
        alice.token,
        "--json",
        "job-submissions",
        "create",
        "--job-script-id",
        str(script.pk),
        "--name",
        "run on site",
        "--cluster-name",
        "cluster-a",
        "--execution-directory",
        str(workdir),
        "--sbatch-arguments=--time=5",
    )
    assert result.returncode == 0, result.stderr
    shown = json_out(result)
    job_id = shown["slurm_job_id"]
    assert f"Submitted Slurm job {job_id} on site, in {workdir}." in result.stderr
    row = JobSubmission.objects.get(pk=shown["id"])
    assert (row.status, row.slurm_job_id, row.execution_directory) == ("SUBMITTED", job_id, str(workdir))
    assert row.sbatch_arguments == ["--time=5"]
    assert [entry.additional_info for entry in row.progress.order_by("id")] == ["Submitted on site"]
    assert (workdir / "job.sh").read_text().startswith(f"#!/bin/bash\n#SBATCH --job-name={name}\n")
    assert (workdir / "input.txt").read_text() == "42\n"
    assert slurm_jobs_named(name) == {job_id}
    output = workdir / f"out-{job_id}.txt"
    assert until(lambda: output.exists() and output.read_text() == f"42\n{workdir}\n", seconds=60), "no output"

    assert until(lambda: fresh(row).status == "DONE", seconds=90, each=agent_cycle), row.slurm_job_state
    assert (row.slurm_job_id, row.slurm_job_state) == (job_id, "COMPLETED")
    assert slurm_jobs_named(name) == {job_id}, "the agent submitted the job again"


@pytest.fixture
def hello(live_server, alice):
    created = jobbergate(
        live_server,
        alice.token,
        "applications",
        "create",
        "--name",
        "Hello",
        "--identifier",
        "hello-serial",
        "--application-path",
        str(EXAMPLE),
        sbatch=None,
    )
    assert created.returncode == 0, created.stderr


@pytest.mark.slurm
def test_job_scripts_create_submit_on_site_in_the_current_directory(slurm_cluster, live_server, alice, hello, workdir):
    name = unique_name()
    answers = workdir.parent / "answers.yaml"
    answers.write_text(f"job_name: {name}\nmessage: hello on site\n")
    result = jobbergate(
        live_server,
        alice.token,
        "job-scripts",
        "create",
        "hello-serial",
        "--fast",
        "--param-file",
        str(answers),
        "--submit",
        "--cluster-name",
        "cluster-a",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    row = JobSubmission.objects.get()
    assert (row.status, row.execution_directory) == ("SUBMITTED", str(workdir))
    assert slurm_jobs_named(name) == {row.slurm_job_id}
    assert f"Submitted Slurm job {row.slurm_job_id} on site" in result.stderr
    assert f"#SBATCH --job-name={name}" in (workdir / "job.sh").read_text()
    output = workdir / f"{name}-{row.slurm_job_id}.out"  # the template's --output=%x-%j.out
    assert until(lambda: output.exists() and "hello on site" in output.read_text(), seconds=60), "no output"


@pytest.mark.slurm
@pytest.mark.parametrize("command", ["job-submissions", "job-scripts"])
def test_a_job_slurm_refuses_is_one_error_line_and_nothing_is_registered(
    slurm_cluster, live_server, alice, hello, workdir, command
):
    name = unique_name()
    if command == "job-submissions":
        script = slurm_job_script(alice.email, "true", job_name=name, name="on site")
        arguments = ["create", "--job-script-id", str(script.pk), "--name", "x", "--sbatch-arguments=--partition=nope"]
    else:
        answers = workdir.parent / "answers.yaml"
        answers.write_text(f"job_name: {name}\npartition: compute\n")  # a choice the cluster has no partition for
        arguments = ["create", "hello-serial", "--fast", "--param-file", str(answers), "--submit"]
    result = jobbergate(live_server, alice.token, command, *arguments, "--cluster-name", "cluster-a", cwd=workdir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: Slurm refused the job: ")
    assert "invalid partition" in lines[0].lower()
    assert not JobSubmission.objects.exists()
    assert slurm_jobs_named(name) == set()


@pytest.mark.slurm
def test_when_the_api_refuses_after_sbatch_the_job_id_is_printed(slurm_cluster, live_server, reader, workdir):
    """A token that may read job scripts but not create submissions: the job runs, and the user is told which."""
    name = unique_name()
    script = slurm_job_script(reader.email, "true", job_name=name, name="on site")
    result = jobbergate(
        live_server,
        reader.token,
        "job-submissions",
        "create",
        "--job-script-id",
        str(script.pk),
        "--name",
        "x",
        "--cluster-name",
        "cluster-a",
        cwd=workdir,
    )
    assert result.returncode == 3, result.stderr
    jobs = slurm_jobs_named(name)
    assert len(jobs) == 1
    (job_id,) = jobs
    assert f"Slurm job {job_id} was submitted (in {workdir}) but Jobbergate did not record it" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert not JobSubmission.objects.exists()


# Without Slurm: the choice of mode. A stand-in sbatch records any call, so "never ran" is checked, not assumed.


@pytest.fixture
def recording_sbatch(tmp_path):
    calls = tmp_path / "sbatch-calls"
    sbatch = tmp_path / "sbatch"
    sbatch.write_text(f'#!/bin/sh\nprintf "[%s]" "$@" >> {calls}\necho >> {calls}\necho 999\n')
    sbatch.chmod(0o755)
    return sbatch


def sbatch_calls(sbatch: Path) -> Path:
    return sbatch.parent / "sbatch-calls"


@pytest.mark.parametrize(
    "flag, sbatch, note",
    [
        ("--no-on-site", "recording", ""),
        (None, "/nonexistent/sbatch", "SBATCH_PATH=/nonexistent/sbatch is not an executable file here"),
    ],
    ids=["no-on-site-overrides", "configured-sbatch-missing"],
)
def test_the_agent_path_when_on_site_is_off_or_sbatch_is_missing(
    live_server, alice, workdir, recording_sbatch, flag, sbatch, note
):
    script = slurm_job_script(alice.email, "true", job_name="x", name="on site")
    path = recording_sbatch if sbatch == "recording" else sbatch
    flags = [flag] if flag else []
    arguments = ["job-submissions", "create", "-i", str(script.pk), "-n", "x", "--cluster-name", "cluster-a", *flags]
    result = jobbergate(live_server, alice.token, *arguments, sbatch=path, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert note in result.stderr
    row = JobSubmission.objects.get()
    assert (row.status, row.slurm_job_id, row.execution_directory) == ("CREATED", None, None)
    assert not sbatch_calls(recording_sbatch).exists()
    assert list(workdir.iterdir()) == []


def test_on_site_without_sbatch_is_a_usage_error(live_server, alice, workdir):
    script = slurm_job_script(alice.email, "true", job_name="x", name="on site")
    arguments = ["job-submissions", "create", "-i", str(script.pk), "-n", "x", "--cluster-name", "cluster-a"]
    result = jobbergate(live_server, alice.token, *arguments, "--on-site", sbatch="/nonexistent/sbatch", cwd=workdir)
    assert result.returncode == 2
    assert "--on-site needs sbatch on this host" in result.stderr
    assert not JobSubmission.objects.exists()


def test_sbatch_arguments_reach_sbatch_as_separate_words(live_server, alice, workdir, recording_sbatch):
    """The stand-in sbatch shows the argument list (no shell in between); its job id is what gets registered."""
    script = slurm_job_script(alice.email, "true", job_name="x", name="on site")
    result = jobbergate(
        live_server,
        alice.token,
        "job-submissions",
        "create",
        "-i",
        str(script.pk),
        "-n",
        "x",
        "--cluster-name",
        "cluster-a",
        "-s",
        "--job-name=$(touch pwned) two words",
        sbatch=recording_sbatch,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert sbatch_calls(recording_sbatch).read_text() == "[--parsable][--job-name=$(touch pwned) two words][./job.sh]\n"
    assert not (workdir / "pwned").exists()
    row = JobSubmission.objects.get()
    assert (row.status, row.slurm_job_id, row.execution_directory) == ("SUBMITTED", 999, str(workdir))
