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


# The statuses a submission ends in: nothing changes it any more (the CLI's copy: jobbergate_cli.contract).
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


# The Slurm states in which a job has ended: COMPLETED ends its submission DONE, any other final state ABORTED with
# Slurm's reason. Every state not listed here is one a job can still leave. The agent keeps the other side
# (jobbergate_cli.contract ACTIVE_SLURM_STATES); submissions/tests/test_choices.py pins that the two split the states.
SUCCESS_STATES = frozenset({SlurmJobState.COMPLETED})
FAILURE_STATES = frozenset(
    {
        SlurmJobState.BOOT_FAIL,
        SlurmJobState.CANCELLED,
        SlurmJobState.DEADLINE,
        SlurmJobState.FAILED,
        SlurmJobState.NODE_FAIL,
        SlurmJobState.OUT_OF_MEMORY,  # terminal here, unlike upstream
        SlurmJobState.PREEMPTED,
        SlurmJobState.REVOKED,  # a federated job another cluster started: it ends here
        SlurmJobState.SPECIAL_EXIT,
        SlurmJobState.TIMEOUT,
        SlurmJobState.UNKNOWN,
    }
)
FINAL_STATES = SUCCESS_STATES | FAILURE_STATES
