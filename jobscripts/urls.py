from django.urls import path

from jobbergate.api.routes import ID_KEY, resource_urlpatterns
from jobscripts.views import JobScriptViewSet

PREFIX = "job-scripts"

urlpatterns = [
    *resource_urlpatterns(PREFIX, JobScriptViewSet),
    path(
        f"{PREFIX}/render-from-template/<str:key>",
        JobScriptViewSet.as_view({"post": "render_from_template"}),
        name="job-scripts-render-from-template",
    ),
    path(
        f"{PREFIX}/{ID_KEY}/upload/<str:name>",
        JobScriptViewSet.as_view({"get": "file_download", "put": "file_upload", "delete": "file_delete"}),
        name="job-scripts-file",
    ),
]
