from django.contrib import admin

from jobbergate.admin import ResourceAdmin
from submissions import services
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
    )
    inlines = [JobProgressInline]

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
