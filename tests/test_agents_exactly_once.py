"""Exactly once with any number of agents: real agents (``jobbergate agent run`` processes), a live server and the
throw-away Slurm cluster; nothing is mocked.

Submissions carry ``--hold``, so their jobs stay in ``squeue`` to be counted by their markers (the comment
``jobbergate:cluster-a:ID:STAMP`` the agent gives each job). Every test cancels what it left in Slurm.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobSubmission
from testkit.server import free_port, serve, serving_the_test_database
from testkit.slurm import fresh, until
from tests.conftest import OTHER_USER, SUBMITTER, site_user
from tests.test_agent_slurm import submit

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slurm, pytest.mark.django_db(transaction=True)]


def marked_jobs() -> dict[int, list[int]]:
    """Submission id -> the ids of the live jobs (pending or running) carrying its cluster-a marker."""
    output = subprocess.run(
        ["squeue", "-h", "-a", "-o", "%i|%k"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    found: dict[int, list[int]] = {}
    for line in output.splitlines():
        job, _, comment = line.partition("|")
        parts = comment.split(":")
        if len(parts) == 4 and parts[:2] == ["jobbergate", "cluster-a"]:
            found.setdefault(int(parts[2]), []).append(int(job))
    return found


def each_has_its_one_job(ids: set[int], log: str) -> None:
    """Every submission has exactly one live job carrying its marker, and it is the job the API recorded."""
    jobs = marked_jobs()
    twice = {submission: found for submission, found in jobs.items() if submission in ids and len(found) > 1}
    assert not twice, f"submissions with more than one job: {twice}\n{log[-6000:]}"
    assert {submission for submission in jobs if submission in ids} == ids
    stored = dict(JobSubmission.objects.filter(pk__in=ids).values_list("pk", "slurm_job_id"))
    assert all(stored[submission] == jobs[submission][0] for submission in ids)


@pytest.mark.parametrize("count", [2, 3])
def test_several_agents_of_one_cluster_submit_each_submission_once(agents, alice, submitter_workdir, tmp_path, count):
    logs = [tmp_path / f"agent-{index}.log" for index in range(count)]
    processes = [agents(log) for log in logs]
    # Every agent running before the work comes, and the work coming over some seconds, as users submit: an agent
    # claims all it finds in one cycle, so 300 rows waiting for agents that start one by one (seconds apart on a
    # busy machine) may all go to the first (seen once in CI: [0, 300, 0]). Each agent polls every second here.
    assert until(lambda: all("agent of cluster" in log.read_text() for log in logs), seconds=120)
    rows = []
    for _ in range(30):
        rows += [submit(alice.email, "true", submitter_workdir, sbatch_arguments=["--hold"]) for _ in range(10)]
        time.sleep(0.2)
    ids = {row.pk for row in rows}
    everything = until(
        lambda: JobSubmission.objects.filter(pk__in=ids, status=Status.SUBMITTED).count() == len(ids), seconds=240
    )
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(60)
    text = "\n".join(log.read_text() for log in logs)
    assert everything, text[-6000:]
    each_has_its_one_job(ids, text)
    assert not JobSubmission.objects.filter(pk__in=ids, status=Status.REJECTED).exists()
    # The claims shared the work out (at least two agents took some; a third may have found none left), and no
    # agent saw a refused job id.
    submitted_by = [log.read_text().count(" is Slurm job ") for log in logs]
    assert sum(submitted_by) == len(ids) and sum(1 for count in submitted_by if count) >= 2, submitted_by
    assert "did not take" not in text


def test_a_job_id_the_api_refuses_is_cancelled_at_once(api, alice, submitter_workdir, clean_slurm):
    """The API already has another job for the submission (a second agent was first): the job just made is
    cancelled, so no job runs that Jobbergate does not know, and the submission says so."""
    row = submit(alice.email, "true", submitter_workdir, sbatch_arguments=["--hold"])
    JobSubmission.objects.filter(pk=row.pk).update(slurm_job_id=987654)  # what the other agent reported
    result = api()
    assert "was cancelled: the API did not take it" in result.stderr, result.stderr
    assert row.pk not in marked_jobs()
    row = fresh(row)
    assert row.slurm_job_id == 987654
    assert "was cancelled" in row.progress.order_by("id").last().additional_info


def test_the_sweep_cancels_jobs_jobbergate_does_not_know(api, alice, submitter_workdir, held_job, clean_slurm):
    """At start the agent looks for live jobs with its cluster's markers: a job of a submission cancelled between
    an agent's sbatch and its report, or of a deleted submission, is cancelled; a job of another user carrying the
    same marker is not the agent's to touch; the job of a submission still being submitted is kept."""
    other = site_user(OTHER_USER)
    cancelled = submit(alice.email, "true", submitter_workdir, status=Status.CANCELLED)
    deleted = submit(alice.email, "true", submitter_workdir)
    in_flight = submit(alice.email, "true", submitter_workdir)
    # Another agent is at work on in_flight: its claim holds, so this agent does not submit it.
    JobSubmission.objects.filter(pk=in_flight.pk).update(
        claimed_by="agent:other", claimed_until=timezone.now() + timedelta(minutes=5)
    )

    def tag(row):
        return f"--comment=jobbergate:cluster-a:{row.pk}:{int(row.created_at.timestamp())}"

    stray = held_job(SUBMITTER, tag(cancelled))
    orphan = held_job(SUBMITTER, tag(deleted))
    kept = held_job(SUBMITTER, tag(in_flight))
    someone_elses = held_job(other.pw_name, tag(cancelled))
    deleted.delete()
    result = api()
    assert result.returncode == 0, result.stderr
    live = {job for found in marked_jobs().values() for job in found}
    assert stray not in live and orphan not in live, result.stderr
    assert kept in live and someone_elses in live, result.stderr
    entry = fresh(cancelled).progress.order_by("id").last()
    assert f"Slurm job {stray} was cancelled" in entry.additional_info
    assert fresh(in_flight).status == Status.CREATED


def test_the_sweep_leaves_the_running_tasks_of_a_job_array_alone(api, alice, submitter_workdir, clean_slurm):
    """An array's tasks that started have job ids of their own and carry the array's marker: they are the
    submission's own job (the array's id is what sbatch printed and the API recorded), not strays."""
    row = submit(alice.email, "sleep 60", submitter_workdir, sbatch_arguments=["--array=0-1"])
    assert api().returncode == 0
    row = fresh(row)
    assert row.status == Status.SUBMITTED and row.slurm_job_id

    def running_tasks() -> list[str]:
        output = subprocess.run(
            ["squeue", "-h", "-a", "-t", "RUNNING", "-o", "%i|%F", "-j", str(row.slurm_job_id)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return [line for line in output.splitlines() if line.endswith(f"|{row.slurm_job_id}")]

    assert until(lambda: len(running_tasks()) == 2, seconds=60, step=0.5), "the array's tasks did not start"
    agent = api()  # the sweep runs at every agent start
    assert "Jobbergate does not know" not in agent.stderr, agent.stderr
    assert len(running_tasks()) == 2


def test_a_killed_agents_claims_come_back_and_its_jobs_are_not_submitted_again(
    api, agents, alice, submitter_workdir, settings, tmp_path
):
    """Agent A (on another login node: a cache folder of its own) runs sbatch and is SIGKILLed before it reports
    anything (its sbatch hangs after Slurm took the job): its claims hold until they expire, then agent B finds
    A's jobs by their markers and reports them. (An agent restarted on A's own host takes A's claims back at once:
    tests/test_agent_slurm.py, test_an_agent_killed_right_after_sbatch_submits_exactly_once.)"""
    settings.AGENT_CLAIM_SECONDS = 10
    hanging = submitter_workdir / "sbatch-then-hang"
    hanging.write_text('#!/bin/sh\n/usr/bin/sbatch "$@"\nexec sleep 600\n')
    hanging.chmod(0o755)
    rows = [submit(alice.email, "true", submitter_workdir, sbatch_arguments=["--hold"]) for _ in range(5)]
    ids = {row.pk for row in rows}
    # A Slurm timeout of 3 s leaves A the first 2 s of its 10 s claims to start sbatch (no sbatch starts within
    # the timeout + 5 s of a claim's end); A is killed as soon as Slurm has its jobs, before its sbatch times out.
    first = agents(
        tmp_path / "a.log", sbatch_path=hanging, slurm_timeout=3, submit_workers=5, cache_dir=tmp_path / "node-a"
    )
    assert until(lambda: ids <= set(marked_jobs()), seconds=60, step=0.05), (tmp_path / "a.log").read_text()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(30)
    made = {submission: jobs for submission, jobs in marked_jobs().items() if submission in ids}
    assert all(len(jobs) == 1 for jobs in made.values()), made
    assert JobSubmission.objects.filter(pk__in=ids, status=Status.CREATED).count() == len(ids)
    # B at once: the claims still hold, B submits nothing.
    assert api().returncode == 0
    assert JobSubmission.objects.filter(pk__in=ids, status=Status.CREATED).count() == len(ids)
    time.sleep(settings.AGENT_CLAIM_SECONDS + 1)
    result = api()
    assert result.returncode == 0, result.stderr
    assert "already Slurm job" in result.stderr
    after = {submission: jobs for submission, jobs in marked_jobs().items() if submission in ids}
    assert after == made, "a submission was submitted again"
    stored = dict(JobSubmission.objects.filter(pk__in=ids).values_list("pk", "slurm_job_id"))
    assert stored == {submission: jobs[0] for submission, jobs in made.items()}


def restart_postgresql() -> None:
    """Restart the PostgreSQL server this test runs on (the throw-away one of scripts/test), as its data folder's
    owner, with ``pg_ctl restart -m fast``: every connection is cut, the server is back within seconds."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        data = cursor.fetchone()[0]
    connection.close()
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    owner = Path(data).owner()
    # The server's output goes to its log file (-l), not to pipes: the new postmaster would hold them open.
    log = str(Path(data).parent / "server.log")
    command = [str(binaries[-1]), "-D", data, "-l", log, "-m", "fast", "-w", "-t", "60", "restart"]
    subprocess.run(
        ["runuser", "-u", owner, "--", *command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.mark.postgres_only
def test_the_server_and_postgresql_restarted_under_load_lose_and_double_nothing(
    agents, alice, submitter_workdir, tmp_path
):
    """Two agents over 300 held submissions served as in production on the test database: the server is stopped as soon
    as the first jobs are in Slurm (the agents are in the middle of their cycles) and started again, then
    PostgreSQL restarts once some submissions are recorded and others are not. The agents retry; every
    submission ends SUBMITTED with exactly one job."""
    if shutil.which("runuser") is None or not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        pytest.skip("needs Debian's PostgreSQL server binaries and runuser (scripts/test as root has them)")
    rows = [submit(alice.email, "true", submitter_workdir, sbatch_arguments=["--hold"]) for _ in range(300)]
    ids = {row.pk for row in rows}
    bind = f"127.0.0.1:{free_port()}"
    environment = serving_the_test_database(tmp_path / "server")
    log = tmp_path / "server.log"
    arguments = ("--workers", "2")
    with serve(bind=bind, cwd=ROOT, environment=environment, log=log, arguments=arguments):
        url = f"http://{bind}"
        logs = [tmp_path / f"agent-{index}.log" for index in range(2)]
        for agent_log in logs:
            agents(agent_log, base_api_url=url)
        assert until(lambda: len(marked_jobs()) >= 10, seconds=60, step=0.1)  # in the middle of their cycles
    assert JobSubmission.objects.filter(pk__in=ids, status=Status.CREATED).exists()
    with serve(bind=bind, cwd=ROOT, environment=environment, log=tmp_path / "server-2.log", arguments=arguments):
        recorded = until(
            lambda: JobSubmission.objects.filter(pk__in=ids, status=Status.SUBMITTED).count() >= 30,
            seconds=120,
            step=0.1,
        )
        assert recorded and JobSubmission.objects.filter(pk__in=ids, status=Status.CREATED).exists()
        restart_postgresql()
        everything = until(
            lambda: JobSubmission.objects.filter(pk__in=ids, status=Status.SUBMITTED).count() == len(ids),
            seconds=240,
        )
        text = "\n".join(agent_log.read_text() for agent_log in logs)
        assert everything, text[-6000:]
    assert "cycle failed" in text  # they did see the server go away, and went on
    assert "HTTP 500" not in text  # a database that went away is a 503 (retry), not a server error
    each_has_its_one_job(ids, text)
