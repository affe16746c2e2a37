"""Creating submissions and changing their status; every status change writes one progress entry with it."""

from __future__ import annotations

from django.db import transaction
from rest_framework.exceptions import NotFound

from accounts.principal import Principal
from jobbergate.api.exceptions import BadRequest, Unprocessable
from jobbergate.choices import FileType
from jobscripts.models import JobScript
from submissions.choices import JobSubmissionStatus
from submissions.models import JobProgress, JobSubmission


def _record(submission: JobSubmission, info: str | None = None) -> JobProgress:
    return JobProgress.objects.create(
        submission=submission,
        status=submission.status,
        slurm_job_state=submission.slurm_job_state,
        additional_info=info,
    )


@transaction.atomic
def create_submission(
    *,
    principal: Principal,
    owner_email: str,
    job_script_id: int,
    name: str,
    description: str = "",
    execution_directory: str | None = None,
    client_id: str | None = None,
    slurm_job_id: int | None = None,
    sbatch_arguments: list[str] | None = None,
) -> JobSubmission:
    """Submit a job script the principal may read; SUBMITTED at once when the user already ran sbatch."""
    job_script = JobScript.objects.visible_to(principal).filter(pk=job_script_id).first()
    if job_script is None:
        raise NotFound(f"Job script {job_script_id} was not found.")
    entrypoints = job_script.files.filter(file_type=FileType.ENTRYPOINT).count()
    if entrypoints != 1:
        raise Unprocessable(f"Job script {job_script_id} must have exactly one ENTRYPOINT file to be submitted.")
    cluster = client_id or principal.client_id
    if not cluster:
        raise Unprocessable("client_id is required: name the cluster to submit to.")
    submission = JobSubmission.objects.create(
        name=name,
        description=description or "",
        owner_email=owner_email,
        job_script=job_script,
        execution_directory=execution_directory,
        client_id=cluster,
        slurm_job_id=slurm_job_id,
        sbatch_arguments=sbatch_arguments or [],
        status=JobSubmissionStatus.SUBMITTED if slurm_job_id is not None else JobSubmissionStatus.CREATED,
    )
    _record(submission, "Submitted on site" if slurm_job_id is not None else "Created")
    return submission


@transaction.atomic
def clone_submission(
    *, source: JobSubmission, owner_email: str, name: str | None = None, description: str | None = None
) -> JobSubmission:
    """Re-run: a new CREATED submission of the same job script, cluster, directory and sbatch arguments."""
    if source.job_script_id is None:
        raise BadRequest(f"Submission {source.pk} cannot be cloned: its job script was deleted.")
    clone = JobSubmission.objects.create(
        name=name or source.name,
        description=source.description if description is None else description,
        owner_email=owner_email,
        job_script_id=source.job_script_id,
        execution_directory=source.execution_directory,
        client_id=source.client_id,
        sbatch_arguments=list(source.sbatch_arguments),
        cloned_from=source,
    )
    _record(clone, f"Cloned from submission {source.pk}")
    return clone


@transaction.atomic
def reject_waiting_submissions(*, job_script: JobScript, reason: str) -> int:
    """Reject the submissions of ``job_script`` that no agent has picked up yet (status CREATED)."""
    waiting = list(
        JobSubmission.objects.select_for_update().filter(job_script=job_script, status=JobSubmissionStatus.CREATED)
    )
    for submission in waiting:
        submission.status = JobSubmissionStatus.REJECTED
        submission.report_message = reason
        submission.save(update_fields=["status", "report_message", "updated_at"])
        _record(submission, reason)
    return len(waiting)
