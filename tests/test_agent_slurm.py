"""End to end: the API (a live server), the agent (``jobbergate agent run --once`` as a process) and a real Slurm.

Nothing is mocked. The Slurm cluster is the throw-away one scripts/test starts (SLURM_CONF); these tests need
root, as the agent does to submit as other users. Slurm's timing (jobs leave the controller 5-15 s after they end,
MinJobAge=5) makes them wait in bounded loops.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jobbergate.choices import USER_PERMISSIONS
from submissions.models import ClusterStatus, JobSubmission
from testkit.personas import make_persona
from testkit.slurm import fresh, slurm_job_script, until
from tests.conftest import JOBBERGATE, MAPPED_USER, OTHER_USER, SUBMITTER

pytestmark = [pytest.mark.slurm, pytest.mark.django_db(transaction=True)]


def submit(owner: str, body: str, directory: Path, **fields) -> JobSubmission:
    return JobSubmission.objects.create(
        name="e2e",
        owner_email=owner,
        job_script=slurm_job_script(owner, body),
        client_id="cluster-a",
        execution_directory=str(directory),
        **fields,
    )


def slurm_jobs_tagged(row: JobSubmission) -> list[str]:
    """Every job carrying this submission's marker, in the controller or in accounting (which has a job's comment
    only once the job has ended)."""
    tag = f"jobbergate:cluster-a:{row.pk}:{int(row.created_at.timestamp())}"
    queue = subprocess.run(["squeue", "--json"], capture_output=True, text=True, check=True, timeout=60).stdout
    found = {str(job["job_id"]) for job in json.loads(queue)["jobs"] if tag in (job.get("comment") or "")}
    accounted = subprocess.run(
        ["sacct", "-P", "-n", "-X", "-a", "-S", "now-3600", "-o", "JobID,Comment"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    found |= {line.split("|")[0] for line in accounted.splitlines() if tag in line}
    return sorted(found)


def in_controller(job_id: int) -> bool:
    result = subprocess.run(["squeue", "-h", "-t", "all", "-j", str(job_id)], capture_output=True, text=True)
    return result.returncode == 0 and str(job_id) in result.stdout


def test_a_job_that_completes_ends_done_and_the_heartbeat_is_recorded(api, alice, workdir):
    row = submit(alice.email, "cat input.txt; pwd", workdir)
    result = api()
    assert result.returncode == 0, result.stderr
    row = fresh(row)
    # A job this short can end, and be reported DONE, within the cycle that submitted it.
    assert row.status in ("SUBMITTED", "DONE") and row.slurm_job_id, result.stderr
    assert (workdir / "job.sh").read_text().startswith("#!/bin/bash")
    done = until(lambda: fresh(row).status == "DONE", seconds=90, each=api)
    assert done, fresh(row).slurm_job_state
    assert row.slurm_job_state == "COMPLETED"
    assert (workdir / f"out-{row.slurm_job_id}.txt").read_text() == f"42\n{workdir}\n"
    assert json.loads(row.slurm_job_info)["exit_code"] == 0
    assert [entry.status for entry in row.progress.order_by("id")][-1] == "DONE"
    assert ClusterStatus.objects.get(client_id="cluster-a").interval == 30


def test_submissions_sharing_a_folder_each_run_their_own_script(api, alice, workdir):
    first = submit(alice.email, "echo first", workdir)
    second = submit(alice.email, "echo second", workdir)
    same = submit(alice.email, "echo second", workdir)
    assert api().returncode == 0
    rows = [fresh(first), fresh(second), fresh(same)]
    assert all(row.slurm_job_id for row in rows)
    outputs = [workdir / f"out-{row.slurm_job_id}.txt" for row in rows]
    assert until(lambda: all(path.exists() and path.read_text() for path in outputs), seconds=60)
    assert [path.read_text() for path in outputs] == ["first\n", "second\n", "second\n"]


def test_exit_3_ends_aborted_with_failed_and_its_exit_code(api, alice, workdir):
    row = submit(alice.email, "exit 3", workdir)
    assert until(lambda: fresh(row).status == "ABORTED", seconds=90, each=api)
    assert row.slurm_job_state == "FAILED"
    assert "exit code 3" in row.report_message
    assert json.loads(row.slurm_job_info)["exit_code"] == 3


def test_a_job_over_its_time_limit_ends_timeout(api, alice, workdir):
    row = submit(alice.email, "sleep 300", workdir, sbatch_arguments=["--time=5"])
    assert until(lambda: fresh(row).slurm_job_state == "RUNNING", seconds=60, each=api)
    # Slurm checks time limits every 30 s; moving the end time to now is how an operator forces it sooner.
    subprocess.run(["scontrol", "update", f"JobId={row.slurm_job_id}", "EndTime=now"], check=True, timeout=30)
    assert until(lambda: fresh(row).status == "ABORTED", seconds=90, each=api)
    assert row.slurm_job_state == "TIMEOUT"


def test_cancel_before_sbatch_never_reaches_slurm(api, alice, workdir):
    row = submit(alice.email, "sleep 1", workdir)
    alice.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}")
    assert api().returncode == 0
    row = fresh(row)
    assert (row.status, row.slurm_job_id) == ("CANCELLED", None)
    assert slurm_jobs_tagged(row) == []
    assert not (workdir / "job.sh").exists()


def test_cancel_after_sbatch_scancels_the_job(api, alice, workdir):
    row = submit(alice.email, "sleep 300", workdir)
    assert until(lambda: fresh(row).slurm_job_state == "RUNNING", seconds=60, each=api)
    assert alice.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}").status_code == 200
    assert until(lambda: fresh(row).slurm_job_state == "CANCELLED", seconds=60, each=api)
    assert row.status == "CANCELLED"
    state = subprocess.run(
        ["sacct", "-P", "-n", "-X", "-j", str(row.slurm_job_id), "-o", "State"], capture_output=True, text=True
    ).stdout
    assert state.startswith("CANCELLED")


@pytest.fixture
def workdir(submitter_workdir):
    return submitter_workdir


def test_a_mapped_user_runs_the_job_as_themselves_in_their_directory(api, mapped_user, alice):
    home = Path(mapped_user.pw_dir)
    directory = home / f"runs-{time.time_ns()}"
    subprocess.run(["runuser", "-u", MAPPED_USER, "--", "mkdir", str(directory)], check=True)
    row = submit(f"{MAPPED_USER}@example.com", 'id -un; pwd; echo "$HOME"', directory)
    assert until(lambda: fresh(row).status == "DONE", seconds=90, each=lambda: api(slurm_user_mapper="email-mapper"))
    output = directory / f"out-{row.slurm_job_id}.txt"
    assert output.read_text() == f"{MAPPED_USER}\n{directory}\n{home}\n"
    for name in ("job.sh", "input.txt", output.name):
        assert (directory / name).stat().st_uid == mapped_user.pw_uid


def test_an_owner_with_no_account_or_an_unusable_folder_is_rejected(api, mapped_user, alice, workdir):
    nobody = submit("no-such-person@example.com", "true", workdir)
    private = submit(f"{MAPPED_USER}@example.com", "true", workdir)  # SUBMITTER's folder: not writable for them
    assert api(slurm_user_mapper="email-mapper").returncode == 0
    assert (fresh(nobody).status, fresh(private).status) == ("REJECTED", "REJECTED")
    assert "no Unix account 'no-such-person'" in nobody.report_message
    assert "Permission denied" in private.report_message and MAPPED_USER in private.report_message


def test_a_bad_partition_is_rejected_with_slurms_message(api, alice, workdir):
    row = submit(alice.email, "true", workdir, sbatch_arguments=["--partition=nope"])
    assert api().returncode == 0
    row = fresh(row)
    assert row.status == "REJECTED"
    assert "invalid partition" in row.report_message.lower()


def test_shell_text_in_an_argument_stays_a_literal_string(api, alice, workdir):
    """Read from the controller while the job is held: once the job has run, sacct showed its name as "allocation"
    for the new non-root SUBMITTER account (not understood yet; left in the closing note of issue 10)."""
    name = "$(touch /tmp/jbg-pwned) two words"
    row = submit(alice.email, "true", workdir, sbatch_arguments=["--hold", f"--job-name={name}"])
    try:
        assert api().returncode == 0
        row = fresh(row)
        assert row.status == "SUBMITTED", row.report_message
        fields = subprocess.run(
            ["squeue", "-h", "-j", str(row.slurm_job_id), "-o", "%j|%k"], capture_output=True, text=True
        ).stdout
        tag = f"jobbergate:cluster-a:{row.pk}:{int(row.created_at.timestamp())}"
        assert fields.strip() == f"{name}|{tag}"
        assert not Path("/tmp/jbg-pwned").exists()
    finally:
        if row.slurm_job_id:
            subprocess.run(["scancel", str(row.slurm_job_id)], capture_output=True, timeout=60)


def test_the_final_state_is_right_after_the_job_left_the_controller(api, alice, workdir):
    row = submit(alice.email, "exit 3", workdir)
    assert api().returncode == 0
    job_id = fresh(row).slurm_job_id
    assert until(lambda: not in_controller(job_id), seconds=60, step=2), "the job stayed in the controller"
    assert api().returncode == 0
    row = fresh(row)
    assert (row.status, row.slurm_job_state) == ("ABORTED", "FAILED")
    assert json.loads(row.slurm_job_info)["source"] == "sacct"


@pytest.fixture
def killing_sbatch(tmp_path):
    """An sbatch that runs the real one and then SIGKILLs its caller (the agent) before it can report."""
    wrapper = tmp_path / "sbatch-then-kill"
    wrapper.write_text('#!/bin/sh\n/usr/bin/sbatch "$@"\nstatus=$?\nkill -9 $PPID\nexit $status\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.parametrize("purged", [False, True], ids=["job-in-the-controller", "job-only-in-accounting"])
def test_an_agent_killed_right_after_sbatch_submits_exactly_once(
    api, alice, workdir, killing_sbatch, mapped_user, held_job, purged
):
    """The restarted agent finds its job by the marker, and is not fooled by another user's job carrying the same
    marker (given before the restart, so it is the newest job with it)."""
    as_root = {"single_user_submitter": "root", "min_uid": 0}  # only root's sbatch can SIGKILL the agent
    row = submit(alice.email, "sleep 20" if not purged else "true", workdir)
    killed = api(sbatch_path=killing_sbatch, **as_root)
    assert killed.returncode == -signal.SIGKILL
    assert fresh(row).status == "CREATED"
    assert until(lambda: slurm_jobs_tagged(row), seconds=10), "the first sbatch made no job"
    jobs = slurm_jobs_tagged(row)
    if purged:
        assert until(lambda: not in_controller(int(jobs[0])), seconds=60, step=2)
    forged = held_job(MAPPED_USER, f"--comment=jobbergate:cluster-a:{row.pk}:{int(row.created_at.timestamp())}")
    restarted = api(**as_root)
    assert restarted.returncode == 0, restarted.stderr
    assert "not submitting again" in restarted.stderr
    assert fresh(row).slurm_job_id == int(jobs[0])
    assert slurm_jobs_tagged(row) == sorted([*jobs, str(forged)])


def test_a_stopped_controller_leaves_submissions_created_until_it_is_back(api, alice, workdir, slurm_cluster):
    pid_file = slurm_cluster / "run" / "slurmctld.pid"
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert until(lambda: subprocess.run(["scontrol", "ping"], capture_output=True).returncode != 0, seconds=30)
    try:
        row = submit(alice.email, "true", workdir)
        down = api(slurm_timeout=15)
        assert down.returncode == 1
        failures = [line for line in down.stderr.splitlines() if "cycle failed" in line]
        assert len(failures) == 1 and "Slurm" in failures[0]
        assert fresh(row).status == "CREATED"
    finally:
        subprocess.run(["slurmctld"], check=True, timeout=60)
        assert until(
            lambda: (
                subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
                in ("idle", "mixed", "allocated")
            ),
            seconds=60,
        )
    assert until(lambda: fresh(row).status == "DONE", seconds=90, each=api)
    assert len(slurm_jobs_tagged(row)) == 1


def test_with_client_credentials_from_the_openid_provider(api, alice, workdir, oidc, tmp_path):
    """The agent signs in as its cluster with client credentials from a real provider (the one the server trusts),
    caches the token with mode 0600, and submits that cluster's work."""
    from testkit.oidc import UPSTREAM_AGENT_CLIENT, UPSTREAM_AGENT_SECRET

    row = JobSubmission.objects.create(
        name="e2e",
        owner_email=alice.email,
        job_script=slurm_job_script(alice.email, "true"),
        client_id=UPSTREAM_AGENT_CLIENT,
        execution_directory=str(workdir),
    )
    environment = {key: value for key, value in api.environment.items() if key != "JOBBERGATE_AGENT_TOKEN"}
    environment.update(
        {
            "JOBBERGATE_AGENT_OIDC_DOMAIN": oidc.issuer,
            "JOBBERGATE_AGENT_OIDC_CLIENT_ID": UPSTREAM_AGENT_CLIENT,
            "JOBBERGATE_AGENT_OIDC_CLIENT_SECRET": UPSTREAM_AGENT_SECRET,
        }
    )
    result = subprocess.run(
        [JOBBERGATE, "agent", "run", "--once"], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    # `true` can end, and be reported DONE, within the cycle that submitted it.
    assert fresh(row).status in ("SUBMITTED", "DONE") and fresh(row).slurm_job_id
    assert ClusterStatus.objects.filter(client_id=UPSTREAM_AGENT_CLIENT).exists()
    token_file = Path(environment["JOBBERGATE_AGENT_CACHE_DIR"]) / "token" / "access.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert UPSTREAM_AGENT_SECRET not in result.stderr


class CuttableProxy:
    """A TCP relay to the live server that drops every connection while the ``cut`` file exists: the API 'goes
    away' (the file is made by the sbatch wrapper, so the cut comes between sbatch and the agent's report)."""

    def __init__(self, target_url: str, cut: Path):
        host, port = target_url.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.cut = cut
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            if self.cut.exists():
                client.close()
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        server = socket.create_connection(self.target)
        for sock in (client, server):
            sock.settimeout(0.2)
        try:
            while not self.closed.is_set():
                for source, sink in ((client, server), (server, client)):
                    try:
                        data = source.recv(65536)
                    except TimeoutError:
                        continue
                    if not data or self.cut.exists():
                        return
                    sink.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def close(self):
        self.closed.set()
        self.listener.close()


def test_an_api_that_goes_away_right_after_sbatch_loses_nothing_and_submits_once(api, alice, workdir, tmp_path):
    flag = workdir / "api-down"  # made by sbatch's wrapper, which runs as SUBMITTER
    proxy = CuttableProxy(api.environment["JOBBERGATE_AGENT_BASE_API_URL"], flag)
    wrapper = workdir / "sbatch-then-cut"
    wrapper.write_text(f'#!/bin/sh\n/usr/bin/sbatch "$@"\nstatus=$?\ntouch {flag}\nexit $status\n')
    wrapper.chmod(0o755)
    environment = {
        **api.environment,
        "JOBBERGATE_AGENT_BASE_API_URL": proxy.url,
        "JOBBERGATE_AGENT_SBATCH_PATH": str(wrapper),
        "JOBBERGATE_AGENT_TASK_JOBS_INTERVAL_SECONDS": "0.5",
    }
    row = submit(alice.email, "sleep 5", workdir)
    agent = subprocess.Popen([JOBBERGATE, "agent", "run"], env=environment, stderr=subprocess.PIPE, text=True)
    try:
        assert until(flag.exists, seconds=30, step=0.1), "the agent never ran sbatch"
        time.sleep(3)  # a few cycles with the API unreachable
        assert fresh(row).status == "CREATED"
        flag.unlink()  # the API is back
        assert until(lambda: fresh(row).status == "SUBMITTED", seconds=60, step=0.5)
    finally:
        agent.send_signal(signal.SIGTERM)
        _, log = agent.communicate(timeout=60)
        proxy.close()
    assert slurm_jobs_tagged(row) == [str(row.slurm_job_id)]
    assert "cycle failed" in log and "Cannot reach the Jobbergate API" in log
    assert agent.returncode in (0, 1)


def test_without_accounting_states_come_from_the_controller_and_the_log_says_so(api, alice, workdir, tmp_path):
    # A cluster without accounting, as sacct answers there (AccountingStorageType=accounting_storage/none): the only
    # stand-in of this file, because a second cluster without slurmdbd would cost another 10 s to start.
    no_sacct = tmp_path / "sacct"
    no_sacct.write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n")
    no_sacct.chmod(0o755)
    logs = []

    def cycle():
        logs.append(api(sacct_path=no_sacct).stderr)

    row = submit(alice.email, "exit 3", workdir)
    assert until(lambda: fresh(row).status == "ABORTED", seconds=60, step=0.5, each=cycle)
    assert row.slurm_job_state == "FAILED"
    assert json.loads(row.slurm_job_info)["exit_code"] == 3
    assert json.loads(row.slurm_job_info)["source"] in ("squeue", "scontrol")
    assert any("no accounting on this cluster" in log for log in logs)


# Another user's job ---------------------------------------------------------------------------------------------


def slurm_state(job_id: int) -> str:
    output = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True, timeout=60
    ).stdout
    return output.strip()


@pytest.mark.parametrize(
    "mapper, cancel",
    [("email-mapper", True), ("email-mapper", False), ("single-user-mapper", True)],
    ids=["own-account-cancels", "own-account-only-registers", "single-submitter-cancels"],
)
def test_a_job_id_of_another_user_rejects_the_submission_and_the_job_is_never_touched_nor_reported(
    api, mapped_user, other_user, held_job, mapper, cancel
):
    """Bob registers someone else's job on-site and cancels it: the agent, whether Bob maps to his own account or
    to the single submitter's, finds the job is not his, rejects the submission, and leaves the job alone."""
    foreign = held_job(MAPPED_USER)
    bob = make_persona(f"{OTHER_USER}@example.com", USER_PERMISSIONS)
    script = slurm_job_script(bob.email, "true")
    payload = {"name": "not mine", "job_script_id": script.pk, "client_id": "cluster-a", "slurm_job_id": foreign}
    created = bob.client.post("/jobbergate/job-submissions", payload, format="json")
    assert created.status_code == 201 and created.json()["status"] == "SUBMITTED"
    row = JobSubmission.objects.get(pk=created.json()["id"])
    if cancel:
        assert bob.client.put(f"/jobbergate/job-submissions/cancel/{row.pk}").status_code == 200
    logs = [api(slurm_user_mapper=mapper) for _ in range(2)]
    assert all(result.returncode == 0 for result in logs), logs[-1].stderr
    row = fresh(row)
    assert row.status == "REJECTED"
    assert row.report_message.startswith(f"Slurm job {foreign} belongs to another user, not to ")
    assert MAPPED_USER not in row.report_message
    assert (row.slurm_job_state, row.slurm_job_info) == (None, None)
    assert slurm_state(foreign) == "PENDING"
    assert not any("cancelling" in result.stderr for result in logs)
    progress = [entry.additional_info for entry in row.progress.order_by("id")]
    assert progress[-1] == row.report_message and all(MAPPED_USER not in (info or "") for info in progress)


def test_scancel_as_an_account_cancels_its_own_jobs_and_slurm_refuses_the_others(mapped_user, held_job):
    from jobbergate_cli.slurm import Account, Slurm

    own, foreign = held_job(MAPPED_USER), held_job("root")
    refused = Slurm().cancel([own, foreign], account=Account.named(MAPPED_USER))
    assert refused and "permission denied" in refused.lower() and str(foreign) in refused
    assert until(lambda: slurm_state(own) == "CANCELLED", seconds=10, step=0.5)
    assert slurm_state(foreign) == "PENDING"


def test_cancels_run_as_each_owners_account_and_one_slurm_refuses_does_not_stop_the_cycle(
    live_server, agent, mapped_user, other_user, submitter, held_job, caplog
):
    """Dan's job is his account's; Erin's job was her account's until the site moved her to another one while
    the agent ran: both cancel, each as the owner's account now, so Slurm refuses Erin's, and the cycle goes on."""
    from jobbergate_cli.agent.loop import Agent
    from jobbergate_cli.agent.settings import AgentSettings
    from jobbergate_cli.client import ApiClient
    from jobbergate_cli.slurm import Account, Slurm

    dans, erins = held_job(MAPPED_USER), held_job(SUBMITTER)
    accounts = {"dan@example.com": MAPPED_USER, "erin@example.com": SUBMITTER}
    rows = [
        JobSubmission.objects.create(
            name="on site",
            owner_email=email,
            job_script=slurm_job_script(email, "true"),
            client_id="cluster-a",
            status="SUBMITTED",
            slurm_job_id=job_id,
        )
        for email, job_id in (("dan@example.com", dans), ("erin@example.com", erins))
    ]
    cluster_agent = Agent(
        settings=AgentSettings(base_api_url=live_server.url),
        client=ApiClient(base_url=live_server.url, token=lambda: agent.token, retries=0),
        slurm=Slurm(),
        mapper=lambda email: Account.named(accounts[email]),
        cluster="cluster-a",
    )
    cluster_agent.cycle()
    assert [fresh(row).slurm_job_state for row in rows] == ["PENDING", "PENDING"]
    accounts["erin@example.com"] = OTHER_USER
    for row in rows:
        row.status = "CANCELLED"
        row.save(update_fields=["status"])
    with caplog.at_level(logging.INFO, logger="jobbergate.agent"):
        cluster_agent.cycle()
    assert f"cancelling Slurm jobs {dans} as {MAPPED_USER}" in caplog.text
    assert f"cancelling Slurm jobs {erins} as {OTHER_USER}" in caplog.text
    assert f"scancel as {OTHER_USER} refused" in caplog.text
    assert until(lambda: slurm_state(dans) == "CANCELLED", seconds=10, step=0.5)
    assert slurm_state(erins) == "PENDING"
    assert until(lambda: fresh(rows[0]).slurm_job_state == "CANCELLED", seconds=30, each=cluster_agent.cycle)
    assert fresh(rows[1]).slurm_job_state == "PENDING"


def test_a_job_carrying_a_submissions_marker_counts_only_if_it_is_the_owners(
    api, mapped_user, alice, workdir, held_job
):
    """Anyone can write a comment: a job of another user tagged with Alice's submission does not stand for it."""
    # Held, so the job stays SUBMITTED: a job of `true` can end, and be reported DONE, within the same cycle.
    row = submit(alice.email, "true", workdir, sbatch_arguments=["--hold"])
    forged = held_job(MAPPED_USER, f"--comment=jobbergate:cluster-a:{row.pk}:{int(row.created_at.timestamp())}")
    result = api()
    assert result.returncode == 0, result.stderr
    row = fresh(row)
    try:
        assert row.status == "SUBMITTED" and row.slurm_job_id != forged
        assert "the job carrying its marker is ignored" in result.stderr
        assert slurm_state(forged) == "PENDING"
    finally:
        if row.slurm_job_id:
            subprocess.run(["scancel", str(row.slurm_job_id)], capture_output=True, timeout=60)


# What one user gives cannot stop the agent for the others, nor run as a system account -------------------------


def add_file(script, filename: str, content: bytes = b"x\n"):
    from jobbergate.choices import FileType
    from jobscripts.services import upload_job_script_file

    upload_job_script_file(job_script=script, file_type=FileType.SUPPORT, filename=filename, content=content)


def test_odd_file_names_reach_the_job_and_a_file_the_api_refuses_rejects_only_its_submission(api, alice, workdir):
    """File names that mean something in a URL (``%00``, ``%2e%2e``, ``%5C``, ``?``, ``#``) are fetched by their
    own name; a file the API will not serve (a name it now refuses, stored before) rejects that one submission, and
    the cycle goes on for everyone else."""
    odd_names = ["%00", "%2e%2e", "%5C", "a?b#c"]
    odd = submit(alice.email, "true", workdir)
    for number, name in enumerate(odd_names):
        add_file(odd.job_script, name, f"{number}\n".encode())
    refused = submit("bob@example.com", "true", workdir)
    add_file(refused.job_script, "legacy.txt")
    refused.job_script.files.filter(filename="legacy.txt").update(filename="legacy\\name")
    others = submit("carol@example.com", "true", workdir)
    result = api()
    assert result.returncode == 0, result.stderr
    assert (fresh(odd).status, fresh(others).status) == ("SUBMITTED", "SUBMITTED"), result.stderr
    assert [(workdir / name).read_text() for name in odd_names] == ["0\n", "1\n", "2\n", "3\n"]
    assert fresh(refused).status == "REJECTED"
    assert refused.report_message.startswith("The job file 'legacy\\\\name' cannot be read:")


def test_an_owner_mapped_to_a_system_account_is_rejected_and_nothing_runs(api, alice, workdir):
    as_root = submit(alice.email, "touch ran-as-root", workdir)
    assert api(single_user_submitter="").returncode == 0  # the agent's own account: root
    daemon = submit("daemon@example.com", "touch ran-as-daemon", workdir)
    assert api(slurm_user_mapper="email-mapper").returncode == 0
    for row, account in ((as_root, "root, uid 0"), (daemon, "daemon, uid 1")):
        row = fresh(row)
        assert row.status == "REJECTED" and row.slurm_job_id is None
        assert f"maps to a system account on this cluster ({account}; user accounts start at uid 1000)" in (
            row.report_message
        )
        assert slurm_jobs_tagged(row) == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["--ui=0"],
        ["--gi=0"],
        ["--wra=touch /tmp/jbg-wrapped"],
        ["--comment=" + " ".join(f"jobbergate:cluster-a:{n}:1700000000" for n in range(300))],
        ["--comm=mine"],
    ],
    ids=["uid-abbreviated", "gid-abbreviated", "wrap-abbreviated", "forged-markers", "comment-abbreviated"],
)
def test_sbatch_arguments_that_set_who_what_or_the_comment_are_refused_under_any_abbreviation(
    api, alice, workdir, arguments
):
    row = submit(alice.email, "true", workdir, sbatch_arguments=arguments)
    assert api().returncode == 0
    row = fresh(row)
    assert (row.status, row.slurm_job_id) == ("REJECTED", None)
    assert "is not allowed in the submission's sbatch arguments" in row.report_message
    assert slurm_jobs_tagged(row) == [] and not Path("/tmp/jbg-wrapped").exists()


@pytest.mark.parametrize("name", ["--wrap=touch wrapped", "-x"])
def test_an_entrypoint_named_like_an_option_is_submitted_as_the_script(submitter, workdir, name):
    from jobbergate_cli.slurm import Account, Slurm

    script = workdir / name
    script.write_text("#!/bin/sh\n#SBATCH --output=out-%j.txt\necho the-script\n")
    job_id = Slurm().submit(script, account=Account.named(SUBMITTER), tag="jobbergate:cluster-a:1:1")
    output = workdir / f"out-{job_id}.txt"
    assert until(lambda: output.exists() and output.read_text(), seconds=60), f"job {job_id} wrote nothing"
    assert output.read_text() == "the-script\n"
    assert not (workdir / "wrapped").exists()
