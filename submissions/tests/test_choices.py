"""The words the CLI shares with the server (jobbergate_cli.contract: it installs without the server, so it keeps its
own copy), pinned to the server's: the Slurm states split once into final and active, the submission statuses."""

from __future__ import annotations

import pytest
from jobbergate_cli import contract

from submissions import services
from submissions.choices import FINAL_STATES, TERMINAL_STATUSES, JobSubmissionStatus, SlurmJobState
from testkit.factories import make_submission


def test_every_slurm_state_is_final_for_the_server_or_active_for_the_agent_never_both():
    assert not contract.ACTIVE_SLURM_STATES & set(FINAL_STATES)
    assert contract.ACTIVE_SLURM_STATES | set(FINAL_STATES) == set(SlurmJobState.values)


def test_the_clis_submission_statuses_are_the_servers():
    assert contract.SUBMISSION_STATUSES == tuple(JobSubmissionStatus.values)
    assert contract.TERMINAL_STATUSES == set(TERMINAL_STATUSES)


@pytest.mark.django_db
def test_a_revoked_job_ends_its_submission(alice):
    """REVOKED (a federated job another cluster started) is final: the agent stops asking about it, and the server
    used to leave such a submission SUBMITTED for ever."""
    row = make_submission(alice.email, status=JobSubmissionStatus.SUBMITTED, slurm_job_id=7)
    row = services.update_slurm_state(client_id=row.client_id, submission_id=row.pk, slurm_job_state="REVOKED")
    assert row.status == JobSubmissionStatus.ABORTED and "REVOKED" in row.report_message


@pytest.mark.django_db
def test_a_rows_is_active_is_the_agents_active_query(alice):
    """``JobSubmission.is_active`` (a row) and ``JobSubmissionQuerySet.active`` (the query) say the same rule: every
    status, with and without a job id, with no state, a running one and a final one."""
    rows = [
        make_submission(alice.email, status=status, slurm_job_id=job_id, slurm_job_state=state)
        for status in JobSubmissionStatus.values
        for job_id in (None, 11)
        for state in (None, SlurmJobState.RUNNING, SlurmJobState.COMPLETED)
    ]
    active = set(type(rows[0]).objects.active().values_list("pk", flat=True))
    assert {row.pk for row in rows if row.is_active} == active
    assert active  # the rule selects some rows and leaves others
    assert len(active) < len(rows)
