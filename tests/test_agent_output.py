"""Live job output with the real parts: our agent ships a running job's stdout and stderr from the throw-away Slurm
cluster to the live server, and ``jobbergate job-submissions logs --follow`` prints them as they come.

Runs as root beside the cluster (scripts/test starts one), as the other Slurm tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import python_path
from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobOutput, JobSubmission
from testkit.slurm import fresh, until
from tests.conftest import JOBBERGATE
from tests.test_agent_slurm import CuttableProxy, submit

pytestmark = [pytest.mark.slurm, pytest.mark.django_db(transaction=True)]

COUNTING = """#!/bin/bash
#SBATCH --output=counting.out
#SBATCH --error=counting.err
for n in $(seq 1 {lines}); do
  echo "line $n at $(date +%s.%N)"
  echo "warning $n" >&2
  sleep {pause}
done
"""


def follow(live_server, token: str, submission_id: int, *options: str) -> subprocess.Popen:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "BASE_API_URL": live_server.url,
        "JOBBERGATE_TOKEN": token,
        "JOBBERGATE_CONFIG": "/nonexistent",
        **python_path(),
    }
    command = [JOBBERGATE, "job-submissions", "logs", str(submission_id), "--follow", "--interval", "0.5", *options]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stream_of(submission: JobSubmission, stream: str) -> bytes:
    from submissions import output

    content, offset = b"", 0
    while True:
        part = output.read(submission=submission, stream=stream, offset=offset, limit=output.READ_LIMIT_MAX)
        content += part.content
        if part.next_offset >= part.length:
            return content
        offset = part.next_offset


def test_a_running_job_is_followed_line_by_line_and_ends_with_its_status(
    live_server, alice, agents, submitter_workdir, tmp_path
):
    row = submit(alice.email, COUNTING.format(lines=20, pause=1), submitter_workdir)
    agents(tmp_path / "agent.log")
    reader = follow(live_server, alice.token, row.pk)
    arrivals: list[tuple[float, bytes]] = []
    assert reader.stdout is not None
    for line in reader.stdout:
        arrivals.append((time.time(), line))
    assert reader.wait(timeout=120) == 0, reader.stderr.read() if reader.stderr else ""
    printed = [line for _, line in arrivals]
    assert [line.split(b" at ")[0] for line in printed] == [f"line {n}".encode() for n in range(1, 21)]
    # Live, not at the end: the first line was printed before the job wrote its last. (How soon each line comes is
    # measured by bench/run-output, never asserted on a shared machine.)
    written = [float(line.split(b" at ")[1]) for line in printed]
    assert arrivals[0][0] < written[-1]
    delays = sorted(arrived - float(line.split(b" at ")[1]) for arrived, line in arrivals)
    print(f"line-to-screen delay: median {delays[len(delays) // 2]:.2f} s, max {delays[-1]:.2f} s")
    row.refresh_from_db()
    assert row.status == Status.DONE
    assert stream_of(row, "stdout") == (submitter_workdir / "counting.out").read_bytes()
    assert stream_of(row, "stderr") == b"".join(f"warning {n}\n".encode() for n in range(1, 21))
    assert set(JobOutput.objects.filter(submission=row).values_list("complete", flat=True)) == {True}


def test_an_output_replaced_by_a_link_to_a_file_the_owner_cannot_read_is_not_read(
    alice, agents, submitter_workdir, tmp_path
):
    secret = tmp_path / "secret.txt"  # in root's own test folder: the job's account cannot read it
    secret.write_text("root only: the agent must never ship this\n")
    secret.chmod(0o600)
    body = f"#!/bin/bash\n#SBATCH --output=leak.out\necho before\nrm -f leak.out\nln -s {secret} leak.out\nsleep 6\n"
    row = submit(alice.email, body, submitter_workdir)
    agents(tmp_path / "agent.log")
    assert until(lambda: fresh(row).status == Status.DONE, seconds=120), (tmp_path / "agent.log").read_text()
    assert until(lambda: JobOutput.objects.filter(submission=row, stream="stdout", complete=True).exists(), seconds=30)
    assert b"root only" not in stream_of(row, "stdout")


def test_an_agent_killed_mid_stream_resumes_without_a_byte_twice_or_missing(alice, agents, submitter_workdir, tmp_path):
    row = submit(alice.email, COUNTING.format(lines=16, pause=0.5), submitter_workdir)
    first = agents(tmp_path / "agent-1.log")
    assert until(lambda: JobOutput.objects.filter(submission=row, length__gt=40).exists(), seconds=60)
    os.killpg(first.pid, signal.SIGKILL)  # no goodbye: whatever it was sending is cut
    first.wait(30)
    agents(tmp_path / "agent-2.log")
    assert until(lambda: fresh(row).status == Status.DONE, seconds=120), (tmp_path / "agent-2.log").read_text()
    assert until(lambda: JobOutput.objects.filter(submission=row, stream="stdout", complete=True).exists(), seconds=30)
    assert stream_of(row, "stdout") == (submitter_workdir / "counting.out").read_bytes()


def test_the_api_away_for_a_while_loses_no_output(alice, api, agents, submitter_workdir, tmp_path):
    cut = tmp_path / "api-down"  # while it exists, the relay drops every connection to the server
    proxy = CuttableProxy(api.environment["JOBBERGATE_AGENT_BASE_API_URL"], cut)
    row = submit(alice.email, COUNTING.format(lines=24, pause=0.5), submitter_workdir)
    try:
        agents(tmp_path / "agent.log", base_api_url=proxy.url)
        assert until(lambda: JobOutput.objects.filter(submission=row, length__gt=40).exists(), seconds=60)
        cut.touch()  # the API goes away while the job goes on printing
        time.sleep(1)
        during = JobOutput.objects.get(submission=row, stream="stdout").length
        time.sleep(5)
        assert JobOutput.objects.get(submission=row, stream="stdout").length == during  # it really was away
        cut.unlink()
        assert until(lambda: fresh(row).status == Status.DONE, seconds=120), (tmp_path / "agent.log").read_text()
        assert until(
            lambda: JobOutput.objects.filter(submission=row, stream="stdout", complete=True).exists(), seconds=30
        )
    finally:
        proxy.close()
    assert stream_of(row, "stdout") == (submitter_workdir / "counting.out").read_bytes()
    assert stream_of(row, "stderr") == b"".join(f"warning {n}\n".encode() for n in range(1, 25))
    assert "cycle failed" in (tmp_path / "agent.log").read_text()


def test_a_job_that_prints_50_mib_is_capped_and_the_server_answers_meanwhile(
    live_server, alice, agents, submitter_workdir, tmp_path
):
    import requests

    body = "#!/bin/bash\n#SBATCH --output=big.out\nhead -c 52428800 /dev/zero | tr '\\0' 'x'\necho\necho the end\n"
    row = submit(alice.email, body, submitter_workdir)
    agents(tmp_path / "agent.log")
    answers = []
    deadline = time.monotonic() + 240
    done = JobOutput.objects.filter(submission=row, stream="stdout", complete=True)  # stderr (empty) completes first
    while time.monotonic() < deadline and not done.exists():
        answers.append(requests.get(f"{live_server.url}/jobbergate/health", timeout=10).status_code)
        time.sleep(1)
    output = JobOutput.objects.get(submission=row, stream="stdout")
    assert output.complete and output.stored <= 16 * 1024 * 1024 and output.dropped > 0
    assert stream_of(row, "stdout").endswith(b"the end\n")
    assert answers and set(answers) == {204}
