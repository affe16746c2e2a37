"""Helpers of the tests that run jobs on the throw-away Slurm cluster (tests/test_agent_slurm.py, test_onsite.py)."""

from __future__ import annotations

import time

from jobbergate.choices import FileType
from jobscripts.models import JobScript
from jobscripts.services import upload_job_script_file
from submissions.models import JobSubmission


def slurm_job_script(owner: str, body: str, *, job_name: str = "e2e", name: str = "e2e") -> JobScript:
    """A job script whose entrypoint runs ``body`` in the submit folder, writing ``out-<job id>.txt`` there, with a
    support file ``input.txt`` holding ``42``."""
    script = JobScript.objects.create(name=name, description="", owner_email=owner)
    upload_job_script_file(
        job_script=script,
        file_type=FileType.ENTRYPOINT,
        filename="job.sh",
        content=f"#!/bin/bash\n#SBATCH --job-name={job_name}\n#SBATCH --output=out-%j.txt\n{body}\n".encode(),
    )
    upload_job_script_file(job_script=script, file_type=FileType.SUPPORT, filename="input.txt", content=b"42\n")
    return script


def until(predicate, *, seconds: float, step: float = 1.0, each=None):
    """Call ``each`` (e.g. an agent cycle) then ``predicate`` until it holds or the time is up; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        if each is not None:
            each()
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def fresh(row: JobSubmission) -> JobSubmission:
    row.refresh_from_db()
    return row
