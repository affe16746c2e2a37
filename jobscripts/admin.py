from django.contrib import admin

from jobbergate.admin import ResourceAdmin, StoredFileInline
from jobscripts import services
from jobscripts.models import JobScript, JobScriptFile


class JobScriptFileInline(StoredFileInline):
    model = JobScriptFile
    fields = ("filename", "file_type", "size", "updated_at", "contents")
    readonly_fields = fields


@admin.register(JobScript)
class JobScriptAdmin(ResourceAdmin):
    list_display = ("id", "name", "owner_email", "parent_template", "is_archived", "created_at", "updated_at")
    list_select_related = ("parent_template",)
    raw_id_fields = ("cloned_from", "parent_template")
    readonly_fields = ("render_parameters", "template_content_hash", "cloned_from", "created_at", "updated_at")
    inlines = [JobScriptFileInline]

    def clone_service(self, *, source, owner_email):
        return services.clone_job_script(source=source, owner_email=owner_email)

    def delete_model(self, request, obj):
        services.delete_job_script(job_script=obj)

    def delete_queryset(self, request, queryset):
        for job_script in queryset:
            services.delete_job_script(job_script=job_script)
