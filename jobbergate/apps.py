from django.apps import AppConfig


class JobbergateConfig(AppConfig):
    """The project package is an app too, so its management commands and shared templates are found."""

    name = "jobbergate"
    verbose_name = "Jobbergate"

    def ready(self):
        from django.db.backends.signals import connection_created

        from jobbergate.database import use_fast_timestamp_loader

        connection_created.connect(use_fast_timestamp_loader, dispatch_uid="jobbergate-fast-timestamps")
