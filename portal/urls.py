"""The portal's URLs: a contract (the tests, the README and the issue name them)."""

from django.urls import path

from jobbergate.api.routes import ID_KEY  # registers the bounded id converter
from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("sign-in/", views.SignInView.as_view(), name="sign-in"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("applications/upload", views.upload_application, name="upload-application"),
    path("applications/<str:key>/", views.application_form, name="application"),
    path("applications/<str:key>/preview", views.preview, name="preview"),
    path("applications/<str:key>/presets", views.save_preset, name="save-preset"),
    path(f"presets/{ID_KEY}/rename", views.rename_preset, name="rename-preset"),
    path(f"presets/{ID_KEY}/delete", views.delete_preset, name="delete-preset"),
    path("submissions/", views.submission_list, name="submissions"),
    path("submissions/cancel", views.cancel_many, name="cancel-many"),
    path(f"submissions/{ID_KEY}/", views.submission_detail, name="submission"),
    path(f"submissions/{ID_KEY}/status", views.submission_status, name="submission-status"),
    path(f"submissions/{ID_KEY}/output/<str:stream>", views.submission_output, name="submission-output"),
    path(
        f"submissions/{ID_KEY}/output/<str:stream>/download",
        views.submission_output_download,
        name="submission-output-download",
    ),
    path(f"submissions/{ID_KEY}/cancel", views.cancel, name="cancel"),
    path(f"submissions/{ID_KEY}/rerun", views.rerun, name="rerun"),
    path("job-scripts/", views.job_script_list, name="job-scripts"),
    path(f"job-scripts/{ID_KEY}/", views.job_script_detail, name="job-script"),
    path(f"job-scripts/{ID_KEY}/files/<path:name>", views.job_script_file, name="job-script-file"),
]
