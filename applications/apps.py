from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    """Applications (job script templates): a shared catalogue of parameterised Slurm job scripts."""

    name = "applications"
    verbose_name = "Applications"
