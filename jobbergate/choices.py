"""Choices shared by more than one resource app."""

from django.db import models


class FileType(models.TextChoices):
    """Role of a template or job script file: the one script sbatch runs, or a file it uses."""

    ENTRYPOINT = "ENTRYPOINT", "Entrypoint"
    SUPPORT = "SUPPORT", "Support"


class Permission(models.TextChoices):
    """Permission strings carried by tokens (the contract's words, as Auth0 RBAC issues them)."""

    ADMIN = "jobbergate:admin"
    MAINTAINER = "jobbergate:maintainer"
    TEMPLATES_CREATE = "jobbergate:job-templates:create"
    TEMPLATES_READ = "jobbergate:job-templates:read"
    TEMPLATES_UPDATE = "jobbergate:job-templates:update"
    TEMPLATES_DELETE = "jobbergate:job-templates:delete"
    SCRIPTS_CREATE = "jobbergate:job-scripts:create"
    SCRIPTS_READ = "jobbergate:job-scripts:read"
    SCRIPTS_UPDATE = "jobbergate:job-scripts:update"
    SCRIPTS_DELETE = "jobbergate:job-scripts:delete"
    SUBMISSIONS_CREATE = "jobbergate:job-submissions:create"
    SUBMISSIONS_READ = "jobbergate:job-submissions:read"
    SUBMISSIONS_UPDATE = "jobbergate:job-submissions:update"
    SUBMISSIONS_DELETE = "jobbergate:job-submissions:delete"
    CLUSTERS_READ = "jobbergate:clusters:read"
    CLUSTERS_UPDATE = "jobbergate:clusters:update"


# What a cluster agent calls, and so what its token carries unless told otherwise: read the job files
# (job-scripts:read), read its cluster's pending and active submissions and report on them
# (job-submissions:read/update) and send the cluster's heartbeat (clusters:update).
AGENT_PERMISSIONS = (
    Permission.SCRIPTS_READ.value,
    Permission.SUBMISSIONS_READ.value,
    Permission.SUBMISSIONS_UPDATE.value,
    Permission.CLUSTERS_UPDATE.value,
)

# What an ordinary HPC user does with the CLI or the API (create, read, change and delete their own applications,
# job scripts and submissions), and so what a person's server-issued token carries unless told otherwise; never
# admin or maintainer, which a token must be given by name.
USER_PERMISSIONS = tuple(
    permission.value
    for permission in Permission
    if permission.value.split(":")[1] in {"job-templates", "job-scripts", "job-submissions"}
)
