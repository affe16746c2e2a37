from django.apps import AppConfig


class JobbergateConfig(AppConfig):
    """The project package is an app too, so its management commands and shared templates are found."""

    name = "jobbergate"
    verbose_name = "Jobbergate"

    def ready(self) -> None:
        from django.contrib.staticfiles.storage import staticfiles_storage

        warn = getattr(staticfiles_storage, "warn_if_not_collected", None)
        if warn is not None:
            warn()
