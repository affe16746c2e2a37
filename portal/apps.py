from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The web portal for HPC users: pick an application, fill its form, preview, submit, follow the jobs."""

    name = "portal"
    verbose_name = "Web portal"
