"""What the CLI and the agent share with the server, in one module: the CLI installs without the server, so it keeps
its own copy of these words and rules, and server-side tests pin each one to the server's own
(submissions/tests/test_choices.py, jobbergate/tests/test_hostile_inputs.py). Change them together."""

from __future__ import annotations

# A submission's statuses (submissions.choices.JobSubmissionStatus) and those in which it has ended
# (submissions.choices.TERMINAL_STATUSES): nothing changes it any more.
SUBMISSION_STATUSES = ("CREATED", "SUBMITTED", "REJECTED", "DONE", "ABORTED", "CANCELLED")
TERMINAL_STATUSES = frozenset({"REJECTED", "DONE", "ABORTED", "CANCELLED"})

# The Slurm states a job can still leave; every other one is final (submissions.choices.FINAL_STATES).
ACTIVE_SLURM_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "COMPLETING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "RESV_DEL_HOLD",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "SUSPENDED",
    }
)

# Options a user's sbatch arguments may not set, in full or abbreviated (jobbergate.validation
# SBATCH_FORBIDDEN_OPTIONS): --uid, --gid and --wrap would submit as someone else or something other than the job
# script; --comment holds the agent's marker. None of them has a short form (Slurm's option table gives them only
# long-option codes, 22.05 to 24.11).
FORBIDDEN_SBATCH_OPTIONS = ("--uid", "--gid", "--wrap", "--comment")
