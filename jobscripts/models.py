"""Job scripts: one ENTRYPOINT file that sbatch runs, plus support files."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef, Q

from jobbergate.choices import FileType
from jobbergate.models import PrivateResourceQuerySet, Resource, StoredFile
from jobbergate.prepared import PreparedQuery


class JobScriptQuerySet(PrivateResourceQuerySet):
    def visible_to(self, principal):
        """Owner, maintainers and admins; and a cluster's agent, for the job scripts submitted to its cluster."""
        if principal.is_privileged or not principal.cluster:
            return super().visible_to(principal)
        return self.filter(submissions__client_id=principal.cluster).distinct()

    def with_entrypoint_flag(self):
        """Each row with ``entrypoint_present``: whether it has its ENTRYPOINT file (``JobScript.has_entrypoint``
        reads it instead of asking again); a submission reads both in one query."""
        return self.annotate(entrypoint_present=Exists(_entrypoints_of(OuterRef("pk"))))


class JobScript(Resource):
    """A job script, rendered from an application (``parent_template``) or created stand-alone."""

    parent_template = models.ForeignKey(
        "applications.JobScriptTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="job_scripts",
    )
    render_parameters = models.JSONField(
        null=True, blank=True, help_text="The parameters the job script was rendered with (provenance)."
    )
    template_content_hash = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text="SHA-256 of the application's template files it was rendered from (provenance).",
    )

    objects = JobScriptQuerySet.as_manager()

    def has_entrypoint(self) -> bool:
        """Whether it has its ENTRYPOINT file (at most one: a constraint), which sbatch runs: as read with the row
        (``JobScriptQuerySet.with_entrypoint_flag``), else asked now."""
        present = getattr(self, "entrypoint_present", None)
        if present is not None:
            return bool(present)
        return _entrypoints_of(self.pk).exists()

    class Meta(Resource.Meta):
        verbose_name = "job script"
        # A person's own job scripts, newest first (the portal's list), and their newest of one application (the
        # form's last answers); the API's default list (not archived, by id, the upstream CLI's call) walks the
        # last one from its end and counts its entries without reading the rows.
        indexes = [
            models.Index(fields=["owner_email", "-created_at", "-id"], name="job_script_owner_newest"),
            models.Index(
                fields=["owner_email", "-id"], condition=models.Q(is_archived=False), name="job_script_owner_live"
            ),
            models.Index(fields=["owner_email", "parent_template", "-created_at"], name="job_script_owner_app_newest"),
        ]


class LiveJobScriptCount(models.Model):
    """How many job scripts each owner has that are not archived, kept by the database itself: triggers (migration
    0006) change it with every insert, delete, and change of owner or archive flag, whoever makes it (the API, the
    admin, a bulk update), in the same transaction. The API's default list (the caller's own live job scripts, the
    upstream CLI's call) reads its exact total here instead of counting the rows: that count was two thirds of
    PostgreSQL's work for a list of 10,000 (docs/benchmarks.md) and grows with the owner's rows.

    The triggers belong to the table ``jobscripts_jobscript``: a later migration that rebuilds it (SQLite does for
    most field changes) or changes ``owner_email`` or ``is_archived`` must create them again (the SQL of migration
    0006); jobscripts/tests/test_live_count.py fails when they are gone. ``owner_email`` here is as long as
    ``Resource.owner_email``."""

    owner_email = models.CharField(max_length=255, primary_key=True)
    live = models.IntegerField(default=0)

    class Meta:
        db_table = "jobscripts_live_count"

    def __str__(self) -> str:
        return f"{self.owner_email}: {self.live} live job scripts"

    @classmethod
    def of(cls, owner_email: str) -> int:
        row = _LIVE_COUNT.first(owner_email=owner_email)
        return row.live if row is not None else 0


class JobScriptFile(StoredFile):
    """A file of a job script; at most one per job script is the ENTRYPOINT."""

    parent = models.ForeignKey(JobScript, on_delete=models.CASCADE, related_name="files")
    file_type = models.CharField(max_length=16, choices=FileType.choices, default=FileType.ENTRYPOINT)

    storage_prefix = "job-scripts"

    class Meta(StoredFile.Meta):
        constraints = [
            models.UniqueConstraint(fields=["parent", "filename"], name="job_script_file_unique_name"),
            models.UniqueConstraint(
                fields=["parent"],
                condition=Q(file_type=FileType.ENTRYPOINT),
                name="one_entrypoint_per_job_script",
                violation_error_message="A job script has at most one ENTRYPOINT file.",
            ),
        ]


def _entrypoints_of(job_script) -> models.QuerySet:
    return JobScriptFile.objects.filter(parent=job_script, file_type=FileType.ENTRYPOINT)


_LIVE_COUNT = PreparedQuery(
    lambda owner_email: LiveJobScriptCount.objects.filter(owner_email=owner_email),
    owner_email=LiveJobScriptCount._meta.get_field("owner_email"),
)
