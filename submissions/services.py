"""Creating submissions and changing their status; every status change writes one progress entry with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from jobbergate.errors import Conflict, Invalid, Malformed, NotFound
from jobbergate.models import visible_row
from jobbergate.prepared import insert_together
from jobbergate.principal import Principal
from jobscripts.models import JobScript
from jobscripts.signals import job_script_deleting
from submissions.choices import FAILURE_STATES, SUCCESS_STATES, JobSubmissionStatus, SlurmJobState
from submissions.models import ClusterStatus, JobProgress, JobSubmission


def _entry(submission: JobSubmission, info: str | None) -> JobProgress:
    """The progress entry of the submission's status as it is now."""
    return JobProgress(
        submission=submission,
        status=submission.status,
        slurm_job_state=submission.slurm_job_state,
        additional_info=info,
    )


def _record(submission: JobSubmission, info: str | None = None) -> JobProgress:
    entry = _entry(submission, info)
    entry.save(force_insert=True)
    return entry


def _insert_with_first_entry(submission: JobSubmission, info: str) -> JobSubmission:
    """A new submission with its first progress entry, both or neither: in one statement on PostgreSQL
    (``insert_together``; no BEGIN and COMMIT round trips for a create)."""
    insert_together(submission, _entry(submission, info))
    return submission


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
    """Submit a job script the principal may read; SUBMITTED at once when the user already ran sbatch.

    One read (the job script, with whether it has its ENTRYPOINT) and one write, each its own transaction: the read
    took no lock before either, and the write's foreign key check still refuses a job script deleted since."""
    job_script = visible_row(JobScript, principal, job_script_id, shaped=("with_entrypoint_flag",))
    if job_script is None:
        raise NotFound(f"Job script {job_script_id} was not found.")
    if not job_script.has_entrypoint():
        raise Invalid(f"Job script {job_script_id} must have exactly one ENTRYPOINT file to be submitted.")
    cluster = client_id or principal.client_id
    if not cluster:
        raise Invalid("client_id is required: name the cluster to submit to.")
    submission = JobSubmission(
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
    return _insert_with_first_entry(submission, "Submitted on site" if slurm_job_id is not None else "Created")


def clone_submission(
    *, source: JobSubmission, owner_email: str, name: str | None = None, description: str | None = None
) -> JobSubmission:
    """Re-run: a new CREATED submission of the same job script, cluster, directory and sbatch arguments."""
    if source.job_script_id is None:
        raise Malformed(f"Submission {source.pk} cannot be cloned: its job script was deleted.")
    clone = JobSubmission(
        name=name or source.name,
        description=source.description if description is None else description,
        owner_email=owner_email,
        job_script_id=source.job_script_id,
        execution_directory=source.execution_directory,
        client_id=source.client_id,
        sbatch_arguments=list(source.sbatch_arguments),
        cloned_from=source,
    )
    return _insert_with_first_entry(clone, f"Cloned from submission {source.pk}")


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


# The agent's reports ---------------------------------------------------------------------------------------


def _cluster_row(client_id: str, submission_id: int) -> JobSubmission:
    """A submission of the calling cluster, locked for the change (NotFound for another cluster's row)."""
    row = JobSubmission.objects.for_cluster(client_id).select_for_update().filter(pk=submission_id).first()
    if row is None:
        raise NotFound(f"Submission {submission_id} was not found for cluster {client_id!r}.")
    return row


def _claimable(client_id: str, instance: str):
    return JobSubmission.objects.for_cluster(client_id).pending().claimable_by(instance)


def claim_pending(*, client_id: str, instance: str, offset: int, limit: int) -> tuple[list[JobSubmission], int]:
    """Hand a page of a cluster's CREATED submissions to one agent instance, and to no other until the claim ends.

    Two agents of one cluster asking at the same moment get different submissions: the rows are locked with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (another agent's locked rows are passed over, not waited
    for), and the claim itself is a conditional UPDATE that takes only rows still free (or this instance's own, or
    expired), so it holds on SQLite too, where writes are serialised and row locks do not exist. A claim lasts
    ``AGENT_CLAIM_SECONDS``; it ends earlier when the agent reports the job id or the rejection.

    Returns the claimed rows of the page (with their job script and files) and how many this instance may claim
    in all (the page count of the answer).
    """
    claimable = _claimable(client_id, instance)
    total = claimable.count()
    if offset >= total:  # a page past the end is empty, however far (and claims nothing)
        return [], total
    until = timezone.now() + timedelta(seconds=settings.AGENT_CLAIM_SECONDS)
    with transaction.atomic(savepoint=False):  # the row locks last until the claim is written
        # Two statements: PostgreSQL may run an ``IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` subquery of an
        # UPDATE more than once, and so claim more than n rows; a list of ids cannot grow.
        ids = list(
            claimable.order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[offset : offset + limit]
        )
        if ids:
            _claimable(client_id, instance).filter(id__in=ids).update(claimed_by=instance, claimed_until=until)
    rows = list(
        JobSubmission.objects.for_cluster(client_id)
        .filter(claimed_by=instance, claimed_until=until)
        .select_related("job_script")
        .prefetch_related("job_script__files")
        .order_by("id")
    )
    return rows, total


@transaction.atomic
def mark_submitted(
    *,
    client_id: str,
    submission_id: int,
    slurm_job_id: int,
    slurm_job_state: str | None = None,
    slurm_job_info: str | None = None,
    slurm_job_state_reason: str | None = None,
) -> JobSubmission:
    """The agent ran sbatch: CREATED -> SUBMITTED. A CANCELLED row keeps CANCELLED but records the job id.

    Reporting the same job id again (an agent that restarted) changes nothing; another job id is a Conflict.
    """
    row = _cluster_row(client_id, submission_id)
    if row.slurm_job_id is not None:
        if row.slurm_job_id != slurm_job_id:
            raise Conflict(f"Submission {row.pk} already has Slurm job {row.slurm_job_id}, not {slurm_job_id}.")
        if row.status != JobSubmissionStatus.CREATED:
            return row
        # A CREATED row that holds this job id already (a state report set it before update_slurm_state refused
        # CREATED rows) is submitted now, as it would have been.
    if row.status not in (JobSubmissionStatus.CREATED, JobSubmissionStatus.CANCELLED):
        raise Conflict(f"Submission {row.pk} is {row.status}; only a CREATED one can be submitted.")
    row.slurm_job_id = slurm_job_id
    row.slurm_job_state = slurm_job_state or SlurmJobState.PENDING
    row.slurm_job_info = slurm_job_info
    row.claimed_by = row.claimed_until = None
    if row.status == JobSubmissionStatus.CREATED:
        row.status = JobSubmissionStatus.SUBMITTED
    row.save(
        update_fields=[
            "slurm_job_id",
            "slurm_job_state",
            "slurm_job_info",
            "status",
            "claimed_by",
            "claimed_until",
            "updated_at",
        ]
    )
    _record(row, slurm_job_state_reason or f"Slurm job {slurm_job_id}")
    return row


@transaction.atomic  # one commit; each report is its own savepoint, so a refused one undoes only itself
def mark_many_submitted(*, client_id: str, reports: list[dict]) -> list[tuple[int, NotFound | Conflict | None]]:
    """Many ``mark_submitted`` reports, each applied exactly as the single one; each one's id with the error that
    refused it (not this cluster's, or submitted already), None when it was recorded."""
    results: list[tuple[int, NotFound | Conflict | None]] = []
    for report in reports:
        data = dict(report)
        submission_id = data.pop("id")
        try:
            mark_submitted(client_id=client_id, submission_id=submission_id, **data)  # atomic: a savepoint here
        except (NotFound, Conflict) as error:
            results.append((submission_id, error))
            continue
        results.append((submission_id, None))
    return results


@transaction.atomic
def mark_rejected(*, client_id: str, submission_id: int, report_message: str) -> JobSubmission:
    """The agent will not run or track the submission, with the reason:

    - CREATED -> REJECTED: it could not submit (e.g. sbatch refused it);
    - SUBMITTED or CANCELLED with a Slurm job id -> REJECTED: the job is not the owner's (a job id registered
      on-site may be anyone's), so the agent acts on it in no way; whatever was recorded of that job is dropped.
    """
    row = _cluster_row(client_id, submission_id)
    if row.status == JobSubmissionStatus.REJECTED:
        return row
    foreign_job = row.slurm_job_id is not None and row.status in (
        JobSubmissionStatus.SUBMITTED,
        JobSubmissionStatus.CANCELLED,
    )
    if row.status != JobSubmissionStatus.CREATED and not foreign_job:
        raise Conflict(
            f"Submission {row.pk} is {row.status}; only a CREATED one, or a SUBMITTED or CANCELLED one with a Slurm "
            "job, can be rejected."
        )
    row.status = JobSubmissionStatus.REJECTED
    row.report_message = report_message
    row.slurm_job_state = None
    row.slurm_job_info = None
    row.claimed_by = row.claimed_until = None
    fields = ["status", "report_message", "slurm_job_state", "slurm_job_info", "claimed_by", "claimed_until"]
    row.save(update_fields=[*fields, "updated_at"])
    _record(row, report_message)
    return row


@transaction.atomic
def update_slurm_state(
    *,
    client_id: str,
    submission_id: int,
    slurm_job_state: str,
    slurm_job_info: str | None = None,
    slurm_job_id: int | None = None,
    slurm_job_state_reason: str | None = None,
) -> JobSubmission:
    """The job's state in Slurm: COMPLETED ends DONE, a failure state ends ABORTED with the reason; others only
    record the state. A progress entry is written when the status or the state changes.

    Only a row with a Slurm job is reported on: a SUBMITTED one, or a CANCELLED one whose job may still run (what
    ``agent/active`` lists). A CREATED row is reported with ``agent/submitted`` first; a REJECTED row, or a CANCELLED
    one without a job, has none: a Conflict. Once the record has ended (DONE, ABORTED, or CANCELLED with a final
    state), the same state again (an agent that retried) may only add its ``slurm_job_info``; another state is a
    Conflict: a late or replayed report never rewrites how a job ended.
    """
    row = _cluster_row(client_id, submission_id)
    if slurm_job_id is not None and row.slurm_job_id is not None and slurm_job_id != row.slurm_job_id:
        raise Conflict(f"Submission {row.pk} is Slurm job {row.slurm_job_id}, not {slurm_job_id}.")
    if row.status == JobSubmissionStatus.CREATED:
        raise Conflict(f"Submission {row.pk} is CREATED: report its Slurm job with agent/submitted first.")
    if row.status == JobSubmissionStatus.REJECTED:
        raise Conflict(f"Submission {row.pk} was REJECTED: the state of its job is not tracked.")
    if row.slurm_job_id is None and row.status == JobSubmissionStatus.CANCELLED:
        raise Conflict(
            f"Submission {row.pk} was CANCELLED before it had a Slurm job: report a job it got with agent/submitted."
        )
    if row.slurm_job_id is None and slurm_job_id is None:
        raise Conflict(f"Submission {row.pk} is {row.status} and has no Slurm job to report on.")
    if not row.is_active and slurm_job_state != row.slurm_job_state:
        raise Conflict(
            f"Submission {row.pk} has ended {row.status} (Slurm {row.slurm_job_state}); a report of "
            f"{slurm_job_state} changes nothing."
        )
    if row.slurm_job_id is None:
        row.slurm_job_id = slurm_job_id  # a SUBMITTED row without a job id takes the one reported, as it always did
    changed = row.slurm_job_state != slurm_job_state
    row.slurm_job_state = slurm_job_state
    if slurm_job_info is not None:
        row.slurm_job_info = slurm_job_info
    if row.status == JobSubmissionStatus.SUBMITTED:
        if slurm_job_state in SUCCESS_STATES:
            row.status, changed = JobSubmissionStatus.DONE, True
        elif slurm_job_state in FAILURE_STATES:
            row.status, changed = JobSubmissionStatus.ABORTED, True
            row.report_message = slurm_job_state_reason or f"Slurm job ended {slurm_job_state}"
    row.save(
        update_fields=[
            "slurm_job_id",
            "slurm_job_state",
            "slurm_job_info",
            "status",
            "report_message",
            "updated_at",
        ]
    )
    if changed:
        _record(row, slurm_job_state_reason)
    return row


@transaction.atomic
def cancel_submission(*, submission: JobSubmission) -> JobSubmission:
    """Only a CREATED or SUBMITTED submission can be cancelled; the agent then runs scancel (Malformed otherwise)."""
    row = JobSubmission.objects.select_for_update().get(pk=submission.pk)
    if row.status not in (JobSubmissionStatus.CREATED, JobSubmissionStatus.SUBMITTED):
        raise Malformed(f"Submission {row.pk} is {row.status}; only CREATED or SUBMITTED ones can be cancelled.")
    row.status = JobSubmissionStatus.CANCELLED
    row.save(update_fields=["status", "updated_at"])
    _record(row, "Cancelled by the user")
    return row


@dataclass(frozen=True)
class StrayVerdict:
    """What an agent's sweep should do with one Slurm job carrying a marker of its cluster."""

    submission_id: int
    slurm_job_id: int
    cancel: bool
    reason: str
    owner_email: str | None  # None: the submission is gone, the job's own Slurm user cancels it


def judge_marked_jobs(*, client_id: str, jobs: list[tuple[int, int, int]]) -> list[StrayVerdict]:
    """For (submission id, Slurm job id, creation stamp) triples read from the markers of live Slurm jobs: which
    jobs Jobbergate does not know, to be cancelled, and which belong to a submission that is or may become active.

    Kept: the submission's own job, and any job of a CREATED submission that has no job id yet (an agent is
    submitting it, or one died after sbatch: the next claim's marker check reports that job rather than submit
    again). Cancelled: a job of a deleted submission (or of one whose creation time differs: a database restored
    or reset), of a submission recorded with another job id (a second agent's duplicate), or of a cancelled or
    rejected submission that never got a job id (cancelled between an agent's sbatch and its report).
    """
    ids = {submission_id for submission_id, _, _ in jobs}
    rows = {row.pk: row for row in JobSubmission.objects.for_cluster(client_id).filter(pk__in=ids)}
    verdicts = []
    for submission_id, job_id, created in jobs:
        row = rows.get(submission_id)
        if row is None or (created and int(row.created_at.timestamp()) != created):
            verdicts.append(
                StrayVerdict(submission_id, job_id, True, f"submission {submission_id} no longer exists", None)
            )
            continue
        if row.slurm_job_id == job_id:
            cancel, reason = False, "its own job"
        elif row.slurm_job_id is not None:
            cancel, reason = True, f"a second job: submission {row.pk} is Slurm job {row.slurm_job_id}"
        elif row.status in (JobSubmissionStatus.CREATED, JobSubmissionStatus.SUBMITTED):
            cancel, reason = False, "being submitted"
        else:
            cancel, reason = True, f"submission {row.pk} is {row.status} and never took this job"
        verdicts.append(StrayVerdict(submission_id, job_id, cancel, reason, row.owner_email))
    return verdicts


def record_stray_cancelled(*, client_id: str, submission_id: int, slurm_job_id: int, message: str) -> bool:
    """A progress entry on the submission (when it still exists) saying which stray job the agent cancelled."""
    row = JobSubmission.objects.for_cluster(client_id).filter(pk=submission_id).first()
    if row is None:
        return False
    _record(row, message)
    return True


def report_cluster_status(*, client_id: str, interval: int) -> ClusterStatus:
    """The heartbeat of a cluster's agent."""
    status, _ = ClusterStatus.objects.update_or_create(
        client_id=client_id, defaults={"interval": interval, "last_reported": timezone.now()}
    )
    return status


@receiver(job_script_deleting, dispatch_uid="submissions.reject_waiting_of_deleted_job_script")
def _reject_waiting_of_deleted(sender, *, job_script: JobScript, **kwargs) -> None:
    """A job script being deleted takes its waiting submissions with it: they are rejected, never sent."""
    reject_waiting_submissions(job_script=job_script, reason=f"Job script {job_script.pk} was deleted.")
