"""Job submissions, their progress timeline, their output as the agent ships it, and the health of the clusters that
run them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from jobbergate import files
from jobbergate.models import PrivateResourceQuerySet, Resource
from jobbergate.prepared import PreparedInsert
from jobbergate.validation import sbatch_argument_problem
from submissions.choices import FINAL_STATES, JobSubmissionStatus, SlurmJobState


def validate_sbatch_arguments(value) -> None:
    """A list of sbatch options, by the rule the API and the agent use (``sbatch_argument_problem``)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("sbatch arguments are a JSON list of text, one option each.")
    for item in value:
        if problem := sbatch_argument_problem(item):
            raise ValidationError(problem)


class JobSubmissionQuerySet(PrivateResourceQuerySet):
    """The rows a cluster's agent works on, named once for the views and the services."""

    def for_cluster(self, client_id: str) -> JobSubmissionQuerySet:
        return self.filter(client_id=client_id)

    def pending(self) -> JobSubmissionQuerySet:
        """CREATED rows with a job script: what an agent submits."""
        return self.filter(status=JobSubmissionStatus.CREATED).exclude(job_script=None)

    def claimable_by(self, instance: str) -> JobSubmissionQuerySet:
        """Rows ``instance`` may claim: unclaimed, its own, or whose claim ran out."""
        return self.filter(Q(claimed_by=None) | Q(claimed_by=instance) | Q(claimed_until__lt=timezone.now()))

    def with_output_watched(self) -> JobSubmissionQuerySet:
        """Each row's ``output_watched``: someone read its output in the last OUTPUT_WATCHED_SECONDS, so the agent
        ships it every cycle (submissions.output)."""
        since = timezone.now() - timedelta(seconds=settings.OUTPUT_WATCHED_SECONDS)
        read_lately = JobOutput.objects.filter(submission=OuterRef("pk"), last_read__gte=since)
        return self.annotate(output_watched=Exists(read_lately))

    def active(self) -> JobSubmissionQuerySet:
        """What an agent tracks: SUBMITTED rows, and CANCELLED ones while their Slurm job may still run (a job id
        and no final state yet, so the agent cancels it). ``JobSubmission.is_active`` is the same rule for a row."""
        rows = self.filter(status__in=[JobSubmissionStatus.SUBMITTED, JobSubmissionStatus.CANCELLED])
        return rows.exclude(status=JobSubmissionStatus.CANCELLED, slurm_job_id=None).exclude(
            status=JobSubmissionStatus.CANCELLED, slurm_job_state__in=FINAL_STATES
        )


class JobSubmission(Resource):
    """A job script sent (or to be sent) to the Slurm cluster named by ``client_id``."""

    job_script = models.ForeignKey(
        "jobscripts.JobScript", null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    execution_directory = models.CharField(max_length=255, null=True, blank=True)
    client_id = models.CharField("cluster client id", max_length=255, db_index=True)
    status = models.CharField(
        max_length=16, choices=JobSubmissionStatus.choices, default=JobSubmissionStatus.CREATED, db_index=True
    )
    slurm_job_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    slurm_job_state = models.CharField(
        max_length=32, choices=SlurmJobState.choices, null=True, blank=True, db_index=True
    )
    slurm_job_info = models.TextField(null=True, blank=True)
    report_message = models.TextField(null=True, blank=True)
    sbatch_arguments = models.JSONField(default=list, blank=True, validators=[validate_sbatch_arguments])
    # Which agent instance may submit this CREATED row, until when (services.claim_pending): one at a time.
    claimed_by = models.CharField(
        "claimed by agent", max_length=128, null=True, blank=True, help_text="The agent instance submitting it."
    )
    claimed_until = models.DateTimeField("claim expires", null=True, blank=True)

    objects = JobSubmissionQuerySet.as_manager()

    @property
    def is_active(self) -> bool:
        """Whether an agent tracks this row: its Slurm job may still run (``JobSubmissionQuerySet.active``)."""
        if self.status == JobSubmissionStatus.SUBMITTED:
            return True
        return (
            self.status == JobSubmissionStatus.CANCELLED
            and self.slurm_job_id is not None
            and self.slurm_job_state not in FINAL_STATES
        )

    class Meta(Resource.Meta):
        verbose_name = "job submission"
        indexes = [
            models.Index(fields=["client_id", "status"], name="submission_cluster_status"),
            # A person's own submissions, newest first: the portal's history and the API's list of one user's.
            models.Index(fields=["owner_email", "-created_at", "-id"], name="submission_owner_newest"),
        ]


class JobProgress(PreparedInsert, models.Model):
    """One entry of a submission's timeline: a status or Slurm state change, with what the agent said."""

    submission = models.ForeignKey(JobSubmission, on_delete=models.CASCADE, related_name="progress")
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=JobSubmissionStatus.choices, null=True, blank=True)
    slurm_job_state = models.CharField(max_length=32, choices=SlurmJobState.choices, null=True, blank=True)
    additional_info = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["timestamp", "id"]
        verbose_name_plural = "job progress"

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.status or ''} {self.slurm_job_state or ''}".strip()


class ClusterStatus(models.Model):
    """The last heartbeat of a cluster's agent; healthy while it reports within its interval."""

    client_id = models.CharField(max_length=255, primary_key=True)
    interval = models.PositiveIntegerField(help_text="Seconds between heartbeats the agent promised.")
    last_reported = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["client_id"]
        verbose_name_plural = "cluster statuses"

    def __str__(self) -> str:
        return self.client_id

    @property
    def is_healthy(self) -> bool:
        return timezone.now() - self.last_reported <= timedelta(seconds=self.interval)


class OutputStream(models.TextChoices):
    """The streams of a job's output the agent ships: Slurm's StdOut and StdErr files."""

    STDOUT = "stdout"
    STDERR = "stderr"


class JobOutput(models.Model):
    """One stream of a job's output as the agent ships it: an append-only byte sequence addressed by offset.

    ``length`` counts every byte the agent sent (the next offset it must send at); the bytes themselves are in
    ``chunks``. Past ``JOBBERGATE_OUTPUT_MAX_BYTES`` the oldest bytes after the head are dropped, so the head and
    the latest tail stay: ``dropped_from``..``dropped_to`` is the gap (``submissions.output``).
    """

    submission = models.ForeignKey(JobSubmission, on_delete=models.CASCADE, related_name="outputs")
    stream = models.CharField(max_length=8, choices=OutputStream.choices)
    length = models.BigIntegerField(default=0)
    stored = models.BigIntegerField(default=0, help_text="Bytes kept (the length less the dropped ones).")
    dropped_from = models.BigIntegerField(null=True, blank=True)
    dropped_to = models.BigIntegerField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    last_read = models.DateTimeField(null=True, blank=True, help_text="When a person last read it (watched).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["submission", "stream"]
        constraints = [models.UniqueConstraint(fields=["submission", "stream"], name="job_output_one_per_stream")]

    def __str__(self) -> str:
        return f"{self.stream} of submission {self.submission_id} ({self.length} bytes)"

    @property
    def dropped(self) -> int:
        return (self.dropped_to or 0) - (self.dropped_from or 0)


class JobOutputChunk(models.Model):
    """Bytes ``offset``..``offset + size`` of a stream: while the stream is live, a small chunk (at most
    ``OUTPUT_INLINE_MAX_BYTES``, as most chunks of a job that prints steadily are) in its row, ``content``; a larger
    one, and every chunk once the stream is complete, through Django's storage API, ``storage_key``
    (``jobbergate.files``). Exactly one of the two."""

    output = models.ForeignKey(JobOutput, on_delete=models.CASCADE, related_name="chunks")
    offset = models.BigIntegerField()
    size = models.PositiveIntegerField()
    storage_key = models.CharField(max_length=255, editable=False, blank=True)
    content = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["output", "offset"]
        constraints = [
            models.UniqueConstraint(fields=["output", "offset"], name="job_output_chunk_offset"),
            models.CheckConstraint(
                condition=(Q(content__isnull=False) & Q(storage_key=""))
                | (Q(content__isnull=True) & ~Q(storage_key="")),
                name="job_output_chunk_in_one_place",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.output} @{self.offset}+{self.size}"

    def load(self) -> bytes:
        """The chunk's bytes, wherever they are kept."""
        return bytes(self.content) if self.content is not None else files.load_content(self.storage_key)
