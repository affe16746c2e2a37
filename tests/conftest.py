"""Fixtures of the end-to-end tests beside the throw-away Slurm cluster (root only): the cluster, the site accounts
jobs run as, and one agent cycle run as its own process against the live server."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from conftest import python_path, require_real_part

JOBBERGATE = str(Path(sys.executable).parent / "jobbergate")
MAPPED_USER = "jbg-e2e-user"
OTHER_USER = "jbg-e2e-other"
SUBMITTER = "jbg-e2e-agent"  # the single-user mapper's account in these tests: no job runs as root


@pytest.fixture(scope="module")
def slurm_cluster():
    if not os.environ.get("SLURM_CONF"):
        require_real_part("no Slurm cluster: scripts/test starts one when run as root (SLURM_CONF)")
    if os.geteuid() != 0:
        require_real_part("the agent's end-to-end tests run as root (they submit as another user)")
    return Path(os.environ["SLURM_CONF"]).parent.parent


@pytest.fixture
def api(live_server, agent, alice, slurm_cluster, submitter, tmp_path):
    """Runs one agent cycle as its own process against the live server; returns its exit status and log.

    The agent runs as root and, unless a test says otherwise, maps every owner to the SUBMITTER account."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "SLURM_CONF": os.environ["SLURM_CONF"],
        "JOBBERGATE_AGENT_BASE_API_URL": live_server.url,
        "JOBBERGATE_AGENT_TOKEN": agent.token,
        "JOBBERGATE_AGENT_CACHE_DIR": str(tmp_path / "agent-cache"),
        "JOBBERGATE_AGENT_CONFIG": "/nonexistent",
        "JOBBERGATE_AGENT_SINGLE_USER_SUBMITTER": SUBMITTER,
        **python_path(),
    }
    if connection.vendor == "sqlite":
        # live_server's in-memory SQLite (shared cache) fails concurrent writers at once ("table is locked"), where
        # a real SQLite file waits its turn; CI runs these tests on PostgreSQL with the default 4 submit threads.
        environment["JOBBERGATE_AGENT_SUBMIT_WORKERS"] = "1"

    def cycle(**settings):
        env = {**environment, **{f"JOBBERGATE_AGENT_{key.upper()}": str(value) for key, value in settings.items()}}
        result = subprocess.run(
            [JOBBERGATE, "agent", "run", "--once"], env=env, capture_output=True, text=True, timeout=180
        )
        return result

    cycle.environment = environment
    return cycle


def site_user(name: str) -> pwd.struct_passwd:
    """A Unix account with a Slurm association, as a site's users have."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    subprocess.run(["sacctmgr", "-i", "add", "user", name, "Account=jobbergate"], capture_output=True)
    return pwd.getpwnam(name)


@pytest.fixture(scope="module")
def mapped_user(slurm_cluster):
    return site_user(MAPPED_USER)


@pytest.fixture(scope="module")
def other_user(slurm_cluster):
    return site_user(OTHER_USER)


@pytest.fixture(scope="module")
def submitter(slurm_cluster):
    return site_user(SUBMITTER)


@pytest.fixture
def held_job(slurm_cluster):
    """Submits, with Slurm's own sbatch as the given user, a job that never starts (held); cancelled afterwards."""
    jobs = []

    def submit_as(user: str, *options: str) -> int:
        argv = ["sbatch", "--parsable", "--hold", "--chdir=/tmp", "--output=/dev/null", *options, "--wrap=sleep 300"]
        if user != "root":
            argv = ["runuser", "-u", user, "--", *argv]
        output = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
        jobs.append(int(output.strip().split(";")[0]))
        return jobs[-1]

    yield submit_as
    subprocess.run(["scancel", *map(str, jobs)], capture_output=True, timeout=60)


@pytest.fixture
def submitter_workdir(submitter):
    """An execution directory of the SUBMITTER account (in its home, which every account can pass through)."""
    os.chmod(submitter.pw_dir, 0o755)
    folder = Path(submitter.pw_dir) / f"runs-{time.time_ns()}"
    subprocess.run(["runuser", "-u", SUBMITTER, "--", "mkdir", "-m", "755", str(folder)], check=True)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def clean_slurm(slurm_cluster, submitter):
    """Cancels every job of the test accounts afterwards (held jobs never end by themselves)."""
    yield
    for user in (SUBMITTER, OTHER_USER):
        subprocess.run(["scancel", "-u", user], capture_output=True, timeout=60)


@pytest.fixture
def agents(api, clean_slurm):
    """Starts agents (``jobbergate agent run --interval 1``) as processes of their own; stops them afterwards."""
    started: list[subprocess.Popen] = []

    def start(log: Path, **settings) -> subprocess.Popen:
        environment = {
            **api.environment,
            **{f"JOBBERGATE_AGENT_{key.upper()}": str(value) for key, value in settings.items()},
        }
        with log.open("wb") as output:
            process = subprocess.Popen(
                [JOBBERGATE, "agent", "run", "--interval", "1"],
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(30)
