"""``jobbergate job-submissions logs``: a job's output as the agent shipped it, printed byte for byte, followed live.

The agent's side is played here by the output service itself (submissions.output.append, what the agent's PUT
calls), so these tests need no Slurm; tests/test_agent_output.py runs the real agent beside the real cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import python_path
from submissions import output
from submissions.choices import JobSubmissionStatus as Status
from submissions.models import JobSubmission
from testkit.factories import make_submission

JOBBERGATE = str(Path(sys.executable).parent / "jobbergate")
pytestmark = pytest.mark.django_db(transaction=True)


def logs(live_server, token: str, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "BASE_API_URL": live_server.url,
        "JOBBERGATE_TOKEN": token,
        "JOBBERGATE_CONFIG": "/nonexistent",
        **python_path(),
    }
    return subprocess.run(
        [JOBBERGATE, "job-submissions", "logs", *arguments], env=environment, capture_output=True, timeout=timeout
    )


@pytest.fixture
def running(alice):
    return make_submission(alice.email, client_id="cluster-a", status=Status.SUBMITTED, slurm_job_id=41)


def ship(submission: JobSubmission, data: bytes, stream: str = "stdout", *, complete: bool = False) -> None:
    length = submission.outputs.filter(stream=stream).values_list("length", flat=True).first() or 0
    output.append(submission=submission, stream=stream, offset=length, content=data, complete=complete)


def test_it_prints_the_output_byte_for_byte_and_stderr_on_its_own(live_server, alice, running):
    raw = b"line one\n\xff\xfe not UTF-8\n"
    ship(running, raw)
    ship(running, b"a warning\n", "stderr")
    printed = logs(live_server, alice.token, str(running.pk))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == raw
    assert logs(live_server, alice.token, str(running.pk), "--stderr").stdout == b"a warning\n"


def test_tail_prints_the_last_lines(live_server, alice, running):
    ship(running, b"".join(f"line {n}\n".encode() for n in range(1, 101)))
    printed = logs(live_server, alice.token, str(running.pk), "--tail", "2")
    assert printed.stdout == b"line 99\nline 100\n"
    both = logs(live_server, alice.token, str(running.pk), "--tail", "2", "--from-start")
    assert both.returncode == 2 and b"one at a time" in both.stderr


def test_follow_prints_lines_as_they_arrive_and_exits_0_when_the_job_ended_done(live_server, alice, running):
    arrived: list[float] = []

    def job() -> None:
        for n in range(1, 6):
            ship(running, f"step {n}\n".encode())
            arrived.append(time.monotonic())
            time.sleep(0.5)
        JobSubmission.objects.filter(pk=running.pk).update(status=Status.DONE, slurm_job_state="COMPLETED")
        ship(running, b"", complete=True)

    writer = threading.Thread(target=job)
    writer.start()
    followed = logs(live_server, alice.token, str(running.pk), "--follow", "--interval", "0.2")
    writer.join()
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout == b"".join(f"step {n}\n".encode() for n in range(1, 6))


def test_follow_exits_1_when_the_job_did_not_end_done(live_server, alice, running):
    ship(running, b"oops\n")
    JobSubmission.objects.filter(pk=running.pk).update(status=Status.ABORTED, slurm_job_state="FAILED")
    ship(running, b"", complete=True)
    followed = logs(live_server, alice.token, str(running.pk), "--follow")
    assert followed.returncode == 1 and followed.stdout == b"oops\n"


def test_another_users_submission_is_one_line_and_a_non_zero_exit(live_server, bob, running):
    ship(running, b"private\n")
    printed = logs(live_server, bob.token, str(running.pk))
    assert printed.returncode != 0 and b"private" not in printed.stdout
    assert len(printed.stderr.strip().splitlines()) == 1
