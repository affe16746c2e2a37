from django.contrib import admin

from applications import services
from applications.models import JobScriptTemplate, TemplateFile, WorkflowFile
from jobbergate.admin import ResourceAdmin, StoredFileInline


class TemplateFileInline(StoredFileInline):
    model = TemplateFile
    fields = ("filename", "file_type", "size", "updated_at", "contents")
    readonly_fields = fields


class WorkflowFileInline(StoredFileInline):
    model = WorkflowFile
    fields = ("filename", "runtime_config", "size", "updated_at", "contents")
    readonly_fields = fields


@admin.register(JobScriptTemplate)
class JobScriptTemplateAdmin(ResourceAdmin):
    list_display = ("id", "name", "identifier", "owner_email", "is_archived", "created_at", "updated_at")
    search_fields = ("name", "identifier", "description", "owner_email")
    inlines = [TemplateFileInline, WorkflowFileInline]

    def clone_service(self, *, source, owner_email):
        return services.clone_template(source=source, owner_email=owner_email)

    def delete_model(self, request, obj):
        services.delete_template(template=obj)

    def delete_queryset(self, request, queryset):
        for template in queryset:
            services.delete_template(template=template)
