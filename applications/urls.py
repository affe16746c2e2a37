from django.urls import path

from applications.views import JobScriptTemplateViewSet
from jobbergate.api.routes import resource_urlpatterns

PREFIX = "job-script-templates"
KEY = "<str:pk>"

urlpatterns = [
    *resource_urlpatterns(PREFIX, JobScriptTemplateViewSet, key=KEY),
    path(
        f"{PREFIX}/{KEY}/upload/template/<path:name>",
        JobScriptTemplateViewSet.as_view(
            {"get": "template_file_download", "put": "template_file_upload", "delete": "template_file_delete"}
        ),
        name="job-script-templates-template-file",
    ),
    path(
        f"{PREFIX}/{KEY}/schema",
        JobScriptTemplateViewSet.as_view({"get": "questions_schema"}),
        name="job-script-templates-schema",
    ),
    path(
        f"{PREFIX}/{KEY}/application",
        JobScriptTemplateViewSet.as_view({"get": "application_download", "put": "application_upload"}),
        name="job-script-templates-application",
    ),
    path(
        f"{PREFIX}/{KEY}/upload/workflow",
        JobScriptTemplateViewSet.as_view(
            {"get": "workflow_download", "put": "workflow_upload", "delete": "workflow_delete"}
        ),
        name="job-script-templates-workflow",
    ),
]
