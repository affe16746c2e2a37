from django.apps import AppConfig


class JobbergateConfig(AppConfig):
    """The project package is an app too, so its management commands and shared templates are found."""

    name = "jobbergate"
    verbose_name = "Jobbergate"
