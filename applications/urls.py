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
            {"get": "download_template", "put": "upload_template", "delete": "delete_template"}
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
        JobScriptTemplateViewSet.as_view({"get": "download_application", "put": "upload_application"}),
        name="job-script-templates-application",
    ),
    path(
        f"{PREFIX}/{KEY}/upload/workflow",
        JobScriptTemplateViewSet.as_view(
            {"get": "download_workflow", "put": "upload_workflow", "delete": "delete_workflow"}
        ),
        name="job-script-templates-workflow",
    ),
]
