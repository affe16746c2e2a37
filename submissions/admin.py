from django.contrib import admin
from django.utils.html import format_html, format_html_join

from jobbergate.admin import ResourceAdmin
from submissions import output, services
from submissions.models import ClusterStatus, JobProgress, JobSubmission


class JobProgressInline(admin.TabularInline):
    model = JobProgress
    extra = 0
    can_delete = False
    fields = ("timestamp", "status", "slurm_job_state", "additional_info")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JobSubmission)
class JobSubmissionAdmin(ResourceAdmin):
    list_display = (
        "id",
        "name",
        "owner_email",
        "client_id",
        "status",
        "slurm_job_id",
        "slurm_job_state",
        "claimed_by",
        "is_archived",
        "created_at",
    )
    list_filter = ("status", "slurm_job_state", "client_id", "is_archived", "created_at")
    search_fields = ("name", "description", "owner_email", "client_id", "=slurm_job_id")
    list_select_related = ("job_script",)
    raw_id_fields = ("cloned_from", "job_script")
    readonly_fields = (
        "status",
        "slurm_job_id",
        "slurm_job_state",
        "slurm_job_info",
        "report_message",
        "claimed_by",
        "claimed_until",
        "cloned_from",
        "created_at",
        "updated_at",
        "job_output",
    )
    inlines = [JobProgressInline]

    @admin.display(description="Job output")
    def job_output(self, submission) -> str:
        """Each stream the agent shipped: its size, what was dropped, and its first and last lines."""
        parts = []
        for stream in submission.outputs.all():
            first, last = output.summary(stream)
            dropped = f", {stream.dropped:,} bytes dropped past the limit" if stream.dropped else ""
            state = "complete" if stream.complete else "still coming"
            parts.append(
                format_html(
                    '<p><strong>{}</strong>: {} bytes ({}{})</p><pre class="jobbergate-file">{}</pre>'
                    '<p>…</p><pre class="jobbergate-file">{}</pre>',
                    stream.stream,
                    f"{stream.length:,}",
                    state,
                    dropped,
                    first,
                    last,
                )
            )
        return format_html_join("", "{}", ((part,) for part in parts)) if parts else "(none shipped)"

    def clone_service(self, *, source, owner_email):
        return services.clone_submission(source=source, owner_email=owner_email)


@admin.register(ClusterStatus)
class ClusterStatusAdmin(admin.ModelAdmin):
    list_display = ("client_id", "interval", "last_reported", "healthy")
    search_fields = ("client_id",)
    ordering = ("client_id",)

    @admin.display(boolean=True, description="Healthy")
    def healthy(self, cluster: ClusterStatus) -> bool:
        return cluster.is_healthy
