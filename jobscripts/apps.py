from django.apps import AppConfig


class JobscriptsConfig(AppConfig):
    """Job scripts: rendered (or hand-written) scripts and their support files, private to their owner."""

    name = "jobscripts"
    verbose_name = "Job scripts"
