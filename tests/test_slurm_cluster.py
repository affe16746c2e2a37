"""The throw-away Slurm cluster of scripts/test is real: jobs run, and accounting reports how they ended."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import require_real_part

pytestmark = pytest.mark.slurm


@pytest.fixture
def slurm():
    if not os.environ.get("SLURM_CONF"):
        require_real_part("no Slurm cluster: scripts/test starts one when run as root (SLURM_CONF)")


def sacct_state(job_id: str) -> tuple[str, str] | None:
    output = subprocess.run(
        ["sacct", "-P", "-n", "-X", "-j", job_id, "-o", "State,ExitCode"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    return tuple(output.split("|")) if output else None


def test_a_failing_job_ends_failed_with_its_exit_code_in_accounting(slurm, tmp_path):
    os.chmod(tmp_path, 0o755)
    job_id = subprocess.run(
        ["sbatch", "--parsable", "--output", str(tmp_path / "out-%j.txt"), "--wrap", "echo ran; exit 3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    deadline = time.monotonic() + 60
    state = None
    while time.monotonic() < deadline:
        state = sacct_state(job_id)
        if state and state[0] not in ("PENDING", "RUNNING", "COMPLETING"):
            break
        time.sleep(0.5)
    assert state == ("FAILED", "3:0")
    assert (tmp_path / f"out-{job_id}.txt").read_text() == "ran\n"
