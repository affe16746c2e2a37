from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    """Job submissions: a job script sent to a Slurm cluster, its state and its progress timeline."""

    name = "submissions"
    verbose_name = "Job submissions"
