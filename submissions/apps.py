from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    """Job submissions: a job script sent to a Slurm cluster, its state and its progress timeline."""

    name = "submissions"
    verbose_name = "Job submissions"

    def ready(self) -> None:
        # Connects the receivers: jobscripts.signals.job_script_deleting (a deleted job script's waiting
        # submissions are rejected; jobscripts sits below submissions and cannot call it by name), and the
        # deletion of an output chunk's stored bytes.
        from submissions import output, services  # noqa: F401
