"""Wire compatibility: the unmodified upstream ``jobbergate-agent`` 5.12 from PyPI, a live server and real Slurm.

The agent is installed by scripts/test into the upstream virtualenv (``.venv-upstream``, requirements-upstream.txt)
and always runs as a separate process, never imported here. Each run is one cycle of what its scheduler does every
``TASK_JOBS_INTERVAL_SECONDS`` (``jobbergate_agent.tasks``): submit the pending submissions, update the active
ones, report the cluster's health, calling the agent's own task functions.

How it is set up, all through its documented ``JOBBERGATE_AGENT_*`` settings:

- Authentication is real: the agent gets its token with client credentials from the test OpenID provider
  (tests/oidc_provider, started by the ``oidc`` fixture, which the server trusts), at the Keycloak path it builds
  itself (``{OIDC_DOMAIN}/protocol/openid-connect/token``), and caches it in ``CACHE_DIR/cluster-api``. Its client,
  ``cluster-upstream``, is the cluster the submissions name.
- Slurm is the throw-away cluster of scripts/test (``SLURM_CONF``), Debian 12's Slurm 22.05. Two site adapters,
  named by ``SBATCH_PATH`` and ``SCONTROL_PATH``, bridge what upstream expects of the machine, not of our server:
  - the agent runs ``sbatch`` with an empty environment (its ``SubprocessAsUserHandler`` passes ``env={}``), so
    ``sbatch`` would look for /etc/slurm/slurm.conf: the ``sbatch`` wrapper sets ``SLURM_CONF`` and runs the
    real one, as a site whose slurm.conf lives elsewhere would do;
  - the agent reads a job with ``scontrol show job ID --json``, which Slurm has only since 23.02 (22.05 answers
    "unrecognized option '--json'", and the agent then reports the job UNKNOWN, which ends it ABORTED): the
    ``scontrol`` wrapper answers that one command from 22.05's ``squeue --json`` (the same job records,
    ``{"jobs": [...]}``, filtered to the id, since 22.05's ``squeue --json`` ignores ``--jobs``) and hands
    every other command to the real ``scontrol``.
- The single-user mapper submits as the user running the tests (root under scripts/test, which has an
  association).

Upstream reads job states from ``scontrol show job --json`` only, and reports UNKNOWN (which ends the row ABORTED)
once the controller has forgotten a finished job; the test cluster does that 5-15 s after the end
(``MinJobAge=5``), so the test runs the agent as soon as accounting says the job ended.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from conftest import require_real_part
from jobbergate.choices import FileType
from jobscripts.services import upload_job_script_file
from submissions.models import ClusterStatus, JobSubmission
from testkit.factories import make_job_script, make_submission
from testkit.oidc import UPSTREAM_AGENT_CLIENT, UPSTREAM_AGENT_SECRET

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PYTHON = Path(os.environ.get("JOBBERGATE_UPSTREAM_PYTHON", ROOT / ".venv-upstream/bin/python"))
OWNER = "alice@example.com"
INTERVAL = 10

pytestmark = [pytest.mark.interop, pytest.mark.slurm, pytest.mark.django_db(transaction=True)]

# One cycle of the upstream agent, run by the upstream virtualenv's Python.
ONE_CYCLE = """\
import asyncio

from jobbergate_agent.jobbergate.report_health import report_health_status
from jobbergate_agent.jobbergate.submit import submit_pending_jobs
from jobbergate_agent.jobbergate.update import update_active_jobs
from jobbergate_agent.settings import SETTINGS


async def one_cycle():
    await submit_pending_jobs()
    await update_active_jobs()
    await report_health_status(interval=SETTINGS.TASK_JOBS_INTERVAL_SECONDS)


asyncio.run(one_cycle())
"""


# scontrol for the agent: ``show job ID --json`` (Slurm 23.02+) from Slurm 22.05's ``squeue --json``.
SCONTROL_ADAPTER = """\
import json, os, subprocess, sys

os.environ["SLURM_CONF"] = {slurm_conf!r}
arguments = sys.argv[1:]
if len(arguments) == 4 and arguments[:2] == ["show", "job"] and arguments[3] == "--json":
    result = subprocess.run([{squeue!r}, "--json"], capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr or result.returncode)
    data = json.loads(result.stdout)
    data["jobs"] = [job for job in data["jobs"] if str(job["job_id"]) == arguments[2]]
    print(json.dumps(data))
else:
    os.execv({scontrol!r}, [{scontrol!r}, *arguments])
"""


class UpstreamAgent:
    """The upstream agent of cluster ``cluster-upstream``, run one cycle at a time."""

    def __init__(self, environment: dict[str, str], folder: Path, provider):
        self.environment = environment
        self.folder = folder
        self.provider = provider
        self.log = ""

    def cycle(self) -> None:
        result = subprocess.run(
            [str(UPSTREAM_PYTHON), "-c", ONE_CYCLE],
            env=self.environment,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.log += result.stdout + result.stderr
        assert result.returncode == 0, f"the upstream agent failed:\n{self.log[-6000:]}"

    def token_requests(self) -> int:
        """How many times the agent asked the provider for a token (it should cache it)."""
        self.provider.log.flush()
        text = (self.provider.folder / "provider.log").read_text()
        return text.count("request POST /protocol/openid-connect/token")


@pytest.fixture
def upstream_agent(live_server, oidc, tmp_path):
    if not UPSTREAM_PYTHON.exists():
        require_real_part(f"{UPSTREAM_PYTHON} is missing: scripts/test installs requirements-upstream.txt there")
    if not os.environ.get("SLURM_CONF"):
        require_real_part("no Slurm cluster: scripts/test starts one when run as root (SLURM_CONF)")
    tools = {name: shutil.which(name) for name in ("sbatch", "scontrol", "scancel", "squeue", "python3")}
    if not all(tools.values()):
        require_real_part(f"Slurm's client commands are missing: {tools}")
    folder = tmp_path / "agent"
    (folder / "cache").mkdir(parents=True)
    sbatch = folder / "sbatch"
    sbatch.write_text(f"#!/bin/sh\nSLURM_CONF='{os.environ['SLURM_CONF']}' exec '{tools['sbatch']}' \"$@\"\n")
    sbatch.chmod(0o755)
    scontrol = folder / "scontrol"
    adapter = SCONTROL_ADAPTER.format(
        slurm_conf=os.environ["SLURM_CONF"], squeue=tools["squeue"], scontrol=tools["scontrol"]
    )
    scontrol.write_text(f"#!{tools['python3']}\n{adapter}")
    scontrol.chmod(0o755)
    user = pwd.getpwuid(os.getuid()).pw_name
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "SLURM_CONF": os.environ["SLURM_CONF"],
        "JOBBERGATE_AGENT_BASE_API_URL": live_server.url,
        "JOBBERGATE_AGENT_OIDC_DOMAIN": oidc.issuer.removeprefix("http://"),
        "JOBBERGATE_AGENT_OIDC_USE_HTTPS": "false",
        "JOBBERGATE_AGENT_OIDC_CLIENT_ID": UPSTREAM_AGENT_CLIENT,
        "JOBBERGATE_AGENT_OIDC_CLIENT_SECRET": UPSTREAM_AGENT_SECRET,
        "JOBBERGATE_AGENT_SBATCH_PATH": str(sbatch),
        "JOBBERGATE_AGENT_SCONTROL_PATH": str(scontrol),
        "JOBBERGATE_AGENT_SCANCEL_PATH": tools["scancel"],
        "JOBBERGATE_AGENT_X_SLURM_USER_NAME": user,
        "JOBBERGATE_AGENT_SLURM_USER_MAPPER": "single-user-mapper",
        "JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER": user,
        "JOBBERGATE_AGENT_CACHE_DIR": str(folder / "cache"),
        "JOBBERGATE_AGENT_DEFAULT_SLURM_WORK_DIR": str(folder),
        "JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS": str(INTERVAL),
    }
    return UpstreamAgent(environment, folder, oidc)


def execution_directory(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    folder.chmod(0o755)
    return folder


def submission_of(entrypoint: str, run: Path, **fields) -> JobSubmission:
    job_script = make_job_script(OWNER, files=False)
    upload_job_script_file(
        job_script=job_script, file_type=FileType.ENTRYPOINT, filename="hello.sh", content=entrypoint.encode()
    )
    upload_job_script_file(job_script=job_script, file_type=FileType.SUPPORT, filename="input.txt", content=b"42\n")
    return make_submission(
        OWNER, job_script=job_script, client_id=UPSTREAM_AGENT_CLIENT, execution_directory=str(run), **fields
    )


def sacct_end(job_id: int, seconds: float = 90) -> tuple[str, str]:
    """The job's (State, ExitCode) from accounting once it has ended, polling for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    state: tuple[str, ...] = ()
    while time.monotonic() < deadline:
        output = subprocess.run(
            ["sacct", "-P", "-n", "-X", "-j", str(job_id), "-o", "State,ExitCode"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        state = tuple(output.split("|")) if output else ()
        if state and state[0] not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"):
            return state[0], state[1]
        time.sleep(0.25)
    raise AssertionError(f"Slurm job {job_id} did not end within {seconds} s (last seen: {state})")


def test_the_upstream_agent_submits_to_slurm_and_reports_the_job_done(upstream_agent, tmp_path):
    run = execution_directory(tmp_path)
    # The job outlives the first cycle (which also runs the update task), so that cycle leaves it SUBMITTED.
    entrypoint = f"#!/bin/bash\n#SBATCH --output={run}/out-%j.txt\nsleep 4\necho hi $(cat input.txt)\n"
    submission = submission_of(entrypoint, run)

    upstream_agent.cycle()
    submission.refresh_from_db()
    assert submission.status == "SUBMITTED", (submission.report_message, upstream_agent.log[-4000:])
    job_id = submission.slurm_job_id
    assert job_id, upstream_agent.log[-4000:]
    assert submission.slurm_job_state in ("PENDING", "RUNNING")
    assert json.loads(submission.slurm_job_info)["job_id"] == job_id
    assert (run / "hello.sh").read_text().startswith("#!/bin/bash\n")
    assert (run / "input.txt").read_text() == "42\n"
    heartbeat = ClusterStatus.objects.get(client_id=UPSTREAM_AGENT_CLIENT)
    assert heartbeat.interval == INTERVAL

    assert sacct_end(job_id) == ("COMPLETED", "0:0")
    deadline = time.monotonic() + 30
    while submission.status == "SUBMITTED" and time.monotonic() < deadline:
        upstream_agent.cycle()
        submission.refresh_from_db()
    assert (submission.status, submission.slurm_job_state) == ("DONE", "COMPLETED"), (
        submission.report_message,
        upstream_agent.log[-4000:],
    )
    assert submission.slurm_job_id == job_id
    assert json.loads(submission.slurm_job_info)["job_state"] in ("COMPLETED", ["COMPLETED"])
    assert (run / f"out-{job_id}.txt").read_text() == "hi 42\n"
    # Every cycle was a new process, yet the token came from the provider once: the agent's cache worked.
    assert upstream_agent.token_requests() == 1


def test_the_upstream_agent_rejects_what_sbatch_refuses(upstream_agent, tmp_path):
    run = execution_directory(tmp_path)
    submission = submission_of(
        f"#!/bin/bash\n#SBATCH --output={run}/out-%j.txt\necho never\n", run, sbatch_arguments=["--partition=nope"]
    )

    upstream_agent.cycle()
    submission.refresh_from_db()
    assert submission.status == "REJECTED", upstream_agent.log[-4000:]
    assert submission.slurm_job_id is None
    assert "Failed to submit job to slurm" in submission.report_message
    assert "invalid partition" in submission.report_message.lower()
    assert "#SBATCH --partition=nope\n" in (run / "hello.sh").read_text()


def test_the_upstream_agent_cancels_the_slurm_job_of_a_cancelled_submission(upstream_agent, alice, tmp_path):
    run = execution_directory(tmp_path)
    submission = submission_of(f"#!/bin/bash\n#SBATCH --output={run}/out-%j.txt\nsleep 120\n", run)
    upstream_agent.cycle()
    submission.refresh_from_db()
    assert submission.status == "SUBMITTED", (submission.report_message, upstream_agent.log[-4000:])
    job_id = submission.slurm_job_id

    response = alice.client.put(f"/jobbergate/job-submissions/cancel/{submission.pk}")
    assert response.status_code == 200, response.content
    upstream_agent.cycle()  # the cancelled row is still active for the agent: it runs scancel
    assert sacct_end(job_id, seconds=30)[0].startswith("CANCELLED"), upstream_agent.log[-4000:]
    deadline = time.monotonic() + 30
    submission.refresh_from_db()
    while submission.slurm_job_state != "CANCELLED" and time.monotonic() < deadline:
        upstream_agent.cycle()
        submission.refresh_from_db()
    assert (submission.status, submission.slurm_job_state) == ("CANCELLED", "CANCELLED"), upstream_agent.log[-4000:]


def test_our_agent_beside_the_upstream_agent_submits_each_submission_once(upstream_agent, tmp_path):
    """Both agents serve cluster-upstream at the same moment: ours as a process cycling every 3 s, upstream's
    cycle after cycle meanwhile. The upstream agent sends no instance id and gets the same claims, as one instance
    per token; every submission reaches Slurm once, counted in squeue by its job name (held, so it stays there)."""
    from jobbergate.choices import AGENT_PERMISSIONS
    from testkit.personas import make_persona

    ours = make_persona("agent-beside@example.com", list(AGENT_PERMISSIONS), client_id=UPSTREAM_AGENT_CLIENT)
    rows: list[JobSubmission] = []

    def trickle() -> None:
        """New submissions keep coming, one every 0.2 s, while both agents work: each agent finds some free. Each
        has a folder of its own: the upstream agent writes a job file in place, so two agents writing different
        files of one name into one folder could hand sbatch the other's file whatever we do."""
        try:
            for index in range(40):
                entrypoint = f"#!/bin/bash\n#SBATCH --job-name=beside-{index}\n#SBATCH --output=/dev/null\ntrue\n"
                (tmp_path / f"beside-{index}").mkdir()
                run = execution_directory(tmp_path / f"beside-{index}")
                rows.append(submission_of(entrypoint, run, sbatch_arguments=["--hold"]))
                time.sleep(0.2)
        finally:
            connection.close()

    names = {f"beside-{index}" for index in range(40)}
    environment = {
        "PATH": upstream_agent.environment["PATH"],
        "HOME": str(tmp_path),
        "SLURM_CONF": os.environ["SLURM_CONF"],
        "JOBBERGATE_AGENT_BASE_API_URL": upstream_agent.environment["JOBBERGATE_AGENT_BASE_API_URL"],
        "JOBBERGATE_AGENT_TOKEN": ours.token,
        "JOBBERGATE_AGENT_CACHE_DIR": str(tmp_path / "our-cache"),
        "JOBBERGATE_AGENT_CONFIG": "/nonexistent",
        # The upstream agent's account here is the test runner (root): ours must be told root may submit.
        "JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER": upstream_agent.environment["JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER"],
        "JOBBERGATE_AGENT_MIN_UID": "0",
    }
    log = tmp_path / "our-agent.log"
    with log.open("wb") as output:
        ours_running = subprocess.Popen(
            [str(Path(__file__).resolve().parent.parent / ".venv/bin/jobbergate"), "agent", "run", "--interval", "3"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    jobs: dict[str, list[str]] = {}
    arriving = threading.Thread(target=trickle)
    arriving.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            upstream_agent.cycle()
            if (
                not arriving.is_alive()
                and not JobSubmission.objects.filter(pk__in=[row.pk for row in rows], status="CREATED").exists()
            ):
                break
    finally:
        arriving.join(60)
        ours_running.terminate()
        ours_running.wait(60)
        listing = subprocess.run(
            ["squeue", "-h", "-a", "-o", "%i|%j"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        for line in listing.splitlines():
            job, _, name = line.partition("|")
            if name in names:
                jobs.setdefault(name, []).append(job)
        subprocess.run(["scancel", *[job for found in jobs.values() for job in found]], capture_output=True)
    ids = [row.pk for row in rows]
    assert len(ids) == 40
    not_submitted = {
        row.pk: (row.status, row.report_message)
        for row in JobSubmission.objects.filter(pk__in=ids)
        if row.status != "SUBMITTED"
    }
    assert not not_submitted, (not_submitted, upstream_agent.log[-3000:], log.read_text()[-3000:])
    assert set(jobs) == names, sorted(names - set(jobs))
    twice = {name: found for name, found in jobs.items() if len(found) > 1}
    assert not twice, f"submitted more than once: {twice}\n{upstream_agent.log[-3000:]}\n{log.read_text()[-3000:]}"
    by_ours = log.read_text().count(" is Slurm job ")
    print(f"our agent submitted {by_ours} of 40")
    assert 0 < by_ours < 40, f"one agent did all the work (ours: {by_ours} of 40): the test proved nothing"
