"""The Slurm states, split once: the server's final states and the agent's active ones (the agent installs without
the server, so it keeps its own copy; this pins the two together)."""

from __future__ import annotations

import pytest
from jobbergate_cli.slurm import ACTIVE_STATES

from jobbergate.testing.factories import make_submission
from submissions import services
from submissions.choices import FINAL_STATES, JobSubmissionStatus, SlurmJobState


def test_every_slurm_state_is_final_for_the_server_or_active_for_the_agent_never_both():
    assert not ACTIVE_STATES & set(FINAL_STATES)
    assert ACTIVE_STATES | set(FINAL_STATES) == set(SlurmJobState.values)


@pytest.mark.django_db
def test_a_revoked_job_ends_its_submission(alice):
    """REVOKED (a federated job another cluster started) is final: the agent stops asking about it, and the server
    used to leave such a submission SUBMITTED for ever."""
    row = make_submission(alice.email, status=JobSubmissionStatus.SUBMITTED, slurm_job_id=7)
    row = services.update_slurm_state(client_id=row.client_id, submission_id=row.pk, slurm_job_state="REVOKED")
    assert row.status == JobSubmissionStatus.ABORTED and "REVOKED" in row.report_message
