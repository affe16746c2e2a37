"""Status words of job submissions, shared by model, serializer, filter, admin and CLI."""

from django.db import models


class JobSubmissionStatus(models.TextChoices):
    """Where a submission is in its life: waiting for the agent, in Slurm, or ended."""

    CREATED = "CREATED"
    SUBMITTED = "SUBMITTED"
    REJECTED = "REJECTED"
    DONE = "DONE"
    ABORTED = "ABORTED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset(
    {JobSubmissionStatus.REJECTED, JobSubmissionStatus.DONE, JobSubmissionStatus.ABORTED, JobSubmissionStatus.CANCELLED}
)


class SlurmJobState(models.TextChoices):
    """Slurm's own job state words, as squeue and sacct print them."""

    BOOT_FAIL = "BOOT_FAIL"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    COMPLETING = "COMPLETING"
    CONFIGURING = "CONFIGURING"
    DEADLINE = "DEADLINE"
    FAILED = "FAILED"
    NODE_FAIL = "NODE_FAIL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    PENDING = "PENDING"
    PREEMPTED = "PREEMPTED"
    REQUEUED = "REQUEUED"
    REQUEUE_FED = "REQUEUE_FED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    RESIZING = "RESIZING"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"
    REVOKED = "REVOKED"
    RUNNING = "RUNNING"
    SIGNALING = "SIGNALING"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    STAGE_OUT = "STAGE_OUT"
    STOPPED = "STOPPED"
    SUSPENDED = "SUSPENDED"
    TIMEOUT = "TIMEOUT"
    UNKNOWN = "UNKNOWN"
