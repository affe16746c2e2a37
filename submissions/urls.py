from jobbergate.api.routes import resource_urlpatterns
from submissions.views import JobSubmissionViewSet

urlpatterns = [*resource_urlpatterns("job-submissions", JobSubmissionViewSet)]
